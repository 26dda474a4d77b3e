package pages

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ory/fosite"
)

// FormPost is executed by fosite itself, with the data fosite passes.
func TestFormPostWithFositesData(t *testing.T) {
	r, err := New(Brand{ProductName: "Acme 登录", LogoURL: "https://acme.example/logo.png"})
	tmpl := r.FormPost()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	fosite.WriteAuthorizeFormPostResponse("https://app.example/cb?x=1", url.Values{
		"code": {"ory_ac_abc.def"}, "state": {`s"<1>`}, "scope": {"openid profile"},
	}, tmpl, &buf)
	page := buf.String()
	for _, want := range []string{
		`<html lang="zh-CN">`,
		`<form method="post" action="https://app.example/cb?x=1">`,
		`<input type="hidden" name="code" value="ory_ac_abc.def">`,
		`<input type="hidden" name="state" value="s&#34;&lt;1&gt;">`,
		`<input type="hidden" name="scope" value="openid profile">`,
		`<noscript>`, `type="submit" id="continue"`, `<span lang="en">Continue</span>`,
		`<script>document.forms[0].submit()</script>`,
		`<img src="https://acme.example/logo.png" alt="">`, "Acme 登录",
	} {
		if !strings.Contains(page, want) {
			t.Fatalf("form_post page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "onload") {
		t.Fatalf("inline event handler: %s", page)
	}
	sum := sha256.Sum256([]byte(formPostScript))
	if !strings.Contains(FormPostCSP, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") {
		t.Fatalf("CSP %q", FormPostCSP)
	}
	// No unsafe scheme gets into the action.
	buf.Reset()
	fosite.WriteAuthorizeFormPostResponse("javascript:alert(1)", url.Values{}, tmpl, &buf)
	if strings.Contains(buf.String(), "javascript:") {
		t.Fatalf("javascript: action: %s", buf.String())
	}
}

func TestSignedInPage(t *testing.T) {
	r, err := New(Brand{ProductName: "lingpai"})
	if err != nil {
		t.Fatal(err)
	}
	for lang, want := range map[string]string{"zh-CN": "您已登录", "en": "You are signed in"} {
		w := httptest.NewRecorder()
		r.Render(w, 200, "signedin", Page{Lang: lang, Title: "x", Data: "Alice"})
		body := w.Body.String()
		if !strings.Contains(body, `<html lang="`+lang+`">`) || !strings.Contains(body, want) || !strings.Contains(body, "Alice") {
			t.Fatalf("%s: %s", lang, body)
		}
	}
}

// Every message exists in both languages.
func TestMessagesInBothLanguages(t *testing.T) {
	for key := range messages["zh-CN"] {
		if _, ok := messages["en"][key]; !ok {
			t.Errorf("%s: no English", key)
		}
	}
	for key := range messages["en"] {
		if _, ok := messages["zh-CN"][key]; !ok {
			t.Errorf("%s: no Chinese", key)
		}
	}
}

func TestLang(t *testing.T) {
	tests := []struct{ ui, accept, want string }{
		{"", "", "zh-CN"},
		{"en", "zh-CN,zh;q=0.9", "en"},
		{"zh-CN", "en-US", "zh-CN"},
		{"fr", "en-US,en;q=0.9", "en"}, // ui_locales names only languages we lack
		{"fr de", "zh-TW", "zh-CN"},    // Chinese of another script still reads Chinese
		{"", "en-GB", "en"},
		{"", "ja", "zh-CN"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/account/login", nil)
		if tt.accept != "" {
			r.Header.Set("Accept-Language", tt.accept)
		}
		if got := Lang(tt.ui, r); got != tt.want {
			t.Errorf("ui_locales %q, Accept-Language %q: %s, want %s", tt.ui, tt.accept, got, tt.want)
		}
	}
}
