package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
	"github.com/lingpai/lingpai/storage"
)

var alertText = regexp.MustCompile(`(?s)<div class="alert" role="alert">(.*?)</div>`)

// The contract: GET/POST /account/login is a sign-in form (username, password of
// type=password) on its own too, not only as a step of /connect/authorize.
func TestLoginPageWithoutReturnTo(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		s, rp := startWeb(t, backend, false)
		f := newFlow(t, s)
		resp, page := f.get("/account/login")
		if resp.StatusCode != 200 || !strings.Contains(page, `name="username"`) || !strings.Contains(page, `name="password" type="password"`) ||
			!strings.Contains(page, `name="csrf_token"`) || strings.Contains(page, `name="return_to"`) || !strings.Contains(page, `<html lang="zh-CN">`) {
			t.Fatalf("GET /account/login: %d\n%s", resp.StatusCode, page)
		}
		form := formFields(page)
		post := func(user, pass string) (*http.Response, string) {
			v := url.Values{"csrf_token": {form.Get("csrf_token")}, "username": {user}, "password": {pass}}
			return f.post("/account/login", v)
		}
		// The same answer for an unknown user and a wrong password.
		r1, p1 := post("alice", "not-her-password")
		r2, p2 := post("nobody", "whatever-password")
		a1, a2 := alertText.FindStringSubmatch(p1), alertText.FindStringSubmatch(p2)
		if r1.StatusCode != 401 || r2.StatusCode != 401 || a1 == nil || a2 == nil || a1[1] != a2[1] {
			t.Fatalf("bad credentials: %d %v / %d %v", r1.StatusCode, a1, r2.StatusCode, a2)
		}
		if r, _ := f.post("/account/login", url.Values{"username": {"alice"}, "password": {"wonderland-2026"}, "csrf_token": {"forged"}}); r.StatusCode != http.StatusForbidden {
			t.Fatalf("forged CSRF token: %d", r.StatusCode)
		}
		resp, page = post("alice", "wonderland-2026")
		if resp.StatusCode != 200 || resp.Header.Get("Location") != "" || !strings.Contains(page, `id="signedin"`) ||
			!strings.Contains(page, "您已登录") || !strings.Contains(page, "Alice 爱丽丝") {
			t.Fatalf("sign-in without return_to: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
		}
		// The session is real: an authorize request now goes straight to consent.
		q := url.Values{"client_id": {"web"}, "response_type": {"code"}, "redirect_uri": {rp.URL + "/callback"},
			"scope": {"openid"}, "state": {"state-123"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
			"code_challenge_method": {"S256"}}
		resp, _ = f.get("/connect/authorize?" + q.Encode())
		if loc, _ := resp.Location(); loc == nil || loc.Path != "/account/consent" {
			t.Fatalf("authorize after a plain sign-in went to %v", loc)
		}
		// English on request, kept across the POST.
		g := newFlow(t, s)
		resp, page = g.get("/account/login?ui_locales=en")
		if resp.StatusCode != 200 || !strings.Contains(page, `<html lang="en">`) || !strings.Contains(page, "?ui_locales=zh-CN") {
			t.Fatalf("GET /account/login?ui_locales=en: %d\n%s", resp.StatusCode, page)
		}
		resp, page = g.post("/account/login", url.Values{"csrf_token": {formFields(page).Get("csrf_token")}, "ui_locales": {"en"},
			"username": {"alice"}, "password": {"wonderland-2026"}})
		if resp.StatusCode != 200 || !strings.Contains(page, "You are signed in") || !strings.Contains(page, `<html lang="en">`) {
			t.Fatalf("English sign-in: %d\n%s", resp.StatusCode, page)
		}
	})
}

// response_mode=form_post is lingpai's page: the code and state as hidden inputs, a script that
// submits them and a <noscript> button for browsers without it.
func TestAuthorizeFormPostPage(t *testing.T) {
	s, rp := startWeb(t, "sqlite", false)
	q := url.Values{"client_id": {"web"}, "response_type": {"code"}, "redirect_uri": {rp.URL + "/callback"},
		"scope": {"openid profile"}, "state": {"state-123"}, "nonce": {"nonce-123456"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
	f := newFlow(t, s)
	f.authorize(q) // signed in, consent given
	q.Set("response_mode", "form_post")
	resp, page := f.get("/connect/authorize?" + q.Encode())
	if resp.StatusCode != 200 || resp.Header.Get("Location") != "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("form_post: %d %q %q", resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{`<html lang="zh-CN">`, `<form method="post" action="` + rp.URL + `/callback">`,
		`<input type="hidden" name="code" value="ory_ac_`, `<input type="hidden" name="state" value="state-123">`,
		`<noscript>`, `<button class="primary" type="submit" id="continue">`, `<span lang="en">Continue</span>`, "lingpai 令牌"} {
		if !strings.Contains(page, want) {
			t.Fatalf("form_post page lacks %q:\n%s", want, page)
		}
	}
	checkFormPostCSP(t, resp, page)
	// Errors travel the same way.
	q.Set("prompt", "none")
	resp, page = newFlow(t, s).get("/connect/authorize?" + q.Encode())
	if resp.StatusCode != 200 || !strings.Contains(page, `<input type="hidden" name="error" value="login_required">`) ||
		!strings.Contains(page, `<input type="hidden" name="state" value="state-123">`) || !strings.Contains(page, `id="continue"`) {
		t.Fatalf("form_post error: %d\n%s", resp.StatusCode, page)
	}
	checkFormPostCSP(t, resp, page)
}

// checkFormPostCSP: the page's one inline script is the one its Content-Security-Policy allows.
func checkFormPostCSP(t *testing.T, resp *http.Response, page string) {
	t.Helper()
	m := regexp.MustCompile(`<script>(.*?)</script>`).FindAllStringSubmatch(page, -1)
	if len(m) != 1 {
		t.Fatalf("want one inline script, got %v", m)
	}
	sum := sha256.Sum256([]byte(m[0][1]))
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("CSP %q does not allow script %q", csp, m[0][1])
	}
	if resp.Header.Get("Referrer-Policy") != "no-referrer" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers %v", resp.Header)
	}
}

// With scripts off, the <noscript> button carries the response to the client.
func TestBrowserFormPostWithoutJavaScript(t *testing.T) {
	_, rp := startWeb(t, "sqlite", true, func(c *storage.Client) { c.SkipConsent = true })
	rp.Params.Set("response_mode", "form_post")
	ctx, cancel := context.WithTimeout(browser(t), 30*time.Second)
	defer cancel()
	var sub string
	err := chromedp.Run(ctx,
		emulation.SetScriptExecutionDisabled(true),
		chromedp.Navigate(rp.URL+"/login"),
		signIn("alice", "wonderland-2026"),
		chromedp.WaitVisible("#continue", chromedp.ByQuery),
		chromedp.Click("#continue", chromedp.ByQuery),
		chromedp.WaitVisible("#signed-in", chromedp.ByQuery),
		chromedp.Text("#signed-in", &sub, chromedp.ByQuery),
	)
	if err != nil || sub == "" || rp.Result().Error != "" {
		t.Fatalf("form_post without JavaScript: %v %+v", err, rp.Result())
	}
}

// fosite alone accepts a registered http loopback redirect URI on any port (RFC 8252 7.3);
// lingpai wants the exact URI and shows its error page otherwise, redirecting nowhere.
func TestAuthorizeLoopbackRedirectURIMustMatchExactly(t *testing.T) {
	s := lingpaitest.Start(t, "sqlite", nil)
	s.Client("native", []string{"authorization_code"}, []string{"openid", "api"}, func(c *storage.Client) {
		c.RedirectURIs = storage.StringList{"http://127.0.0.1:8080/cb"}
		c.Public, c.SecretHash, c.RequirePKCE = true, nil, true
	})
	base := func(redirect string) url.Values {
		q := url.Values{"client_id": {"native"}, "response_type": {"code"}, "scope": {"openid"}, "state": {"state-123"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
		if redirect != "" {
			q.Set("redirect_uri", redirect)
		}
		return q
	}
	other := base("http://127.0.0.1:9999/cb")
	promptNone := base("http://127.0.0.1:9999/cb")
	promptNone.Set("prompt", "none") // fosite would send login_required to :9999
	badScope := base("http://127.0.0.1:9999/cb")
	badScope.Set("scope", "openid admin") // fosite would send invalid_scope to :9999
	for name, q := range map[string]url.Values{"other port": other, "prompt=none": promptNone, "bad scope": badScope} {
		resp, body := newFlow(t, s).get("/connect/authorize?" + q.Encode())
		if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(body, "<html") || strings.Contains(body, "9999") {
			t.Fatalf("%s: %d %q", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// The registered URI itself, or none at all (the client has one; OpenID Connect needs it sent),
	// is fine.
	omitted := base("")
	omitted.Set("scope", "api")
	for _, q := range []url.Values{base("http://127.0.0.1:8080/cb"), omitted} {
		resp, _ := newFlow(t, s).get("/connect/authorize?" + q.Encode())
		if loc, _ := resp.Location(); loc == nil || loc.Path != "/account/login" {
			t.Fatalf("redirect_uri %q: %d %v", q.Get("redirect_uri"), resp.StatusCode, loc)
		}
		q.Set("prompt", "none")
		resp, _ = newFlow(t, s).get("/connect/authorize?" + q.Encode())
		if loc, _ := resp.Location(); loc == nil || loc.Host != "127.0.0.1:8080" || loc.Query().Get("error") != "login_required" {
			t.Fatalf("redirect_uri %q with prompt=none: %d %v", q.Get("redirect_uri"), resp.StatusCode, loc)
		}
	}
}

// A session older than max_age means signing in again, never login_required for the client:
// lingpai decides max_age with fosite's own rule and times.
func TestAuthorizeMaxAgeAsksToSignInAgain(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		s, rp := startWeb(t, backend, false)
		verifier := oauth2.GenerateVerifier()
		q := url.Values{"client_id": {"web"}, "response_type": {"code"}, "redirect_uri": {rp.URL + "/callback"},
			"scope": {"openid"}, "state": {"state-123"}, "nonce": {"nonce-123456"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
		f := newFlow(t, s)
		f.authorize(q) // signed in, consent given
		age := func(d time.Duration) {
			t.Helper()
			err := s.Store.DB(context.Background()).Model(&storage.LoginSession{}).Where("user_id <> ?", "").
				Update("auth_time", time.Now().UTC().Add(-d)).Error
			if err != nil {
				t.Fatal(err)
			}
		}
		// Signed in 3.5 s ago, max_age=3: past it by less than a second.
		age(3500 * time.Millisecond)
		q.Set("max_age", "3")
		resp, _ := f.get("/connect/authorize?" + q.Encode())
		if loc, _ := resp.Location(); loc == nil || loc.Path != "/account/login" {
			t.Fatalf("session past max_age went to %v", loc)
		}
		before := time.Now().Add(-time.Second).Unix()
		loc := f.authorize(q)
		if loc.Query().Get("error") != "" || loc.Query().Get("code") == "" {
			t.Fatalf("after signing in again: %v", loc)
		}
		tok, err := rp.Config.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := tok.Extra("id_token").(string)
		if at, _ := jwtPart(t, raw, 1)["auth_time"].(float64); int64(at) < before {
			t.Fatalf("auth_time %v is not the new sign-in (after %d)", at, before)
		}
		// Within max_age: no sign-in.
		age(2 * time.Second)
		resp, _ = f.get("/connect/authorize?" + q.Encode())
		if l, _ := resp.Location(); l == nil || l.Query().Get("code") == "" {
			t.Fatalf("session within max_age: %v", l)
		}
		// Past max_age with prompt=none: login_required, as fosite would say.
		age(3500 * time.Millisecond)
		q.Set("prompt", "none")
		resp, _ = f.get("/connect/authorize?" + q.Encode())
		if l, _ := resp.Location(); l == nil || l.Query().Get("error") != "login_required" {
			t.Fatalf("prompt=none past max_age: %v", l)
		}
		// max_age=0 asks for a sign-in once, like prompt=login, and does not loop.
		q.Del("prompt")
		q.Set("max_age", "0")
		resp, _ = f.get("/connect/authorize?" + q.Encode())
		if l, _ := resp.Location(); l == nil || l.Path != "/account/login" {
			t.Fatalf("max_age=0 went to %v", l)
		}
		if l := f.authorize(q); l.Query().Get("code") == "" {
			t.Fatalf("max_age=0 after signing in: %v", l)
		}
	})
}

// Discovery lists what the authorize and token endpoints really do.
func TestDiscoveryAuthMethodsAndClaims(t *testing.T) {
	s := lingpaitest.Start(t, "sqlite", nil)
	resp, err := http.Get(s.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
		Claims      []string `json:"claims_supported"`
		Modes       []string `json:"response_modes_supported"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"client_secret_basic", "client_secret_post", "none"} {
		if !slices.Contains(doc.AuthMethods, m) {
			t.Fatalf("token_endpoint_auth_methods_supported %v lacks %q", doc.AuthMethods, m)
		}
	}
	for _, c := range []string{"sub", "sid", "nonce", "auth_time", "amr", "at_hash"} {
		if !slices.Contains(doc.Claims, c) {
			t.Fatalf("claims_supported %v lacks %q", doc.Claims, c)
		}
	}
	if !slices.Contains(doc.Modes, "form_post") {
		t.Fatalf("response_modes_supported %v", doc.Modes)
	}
}
