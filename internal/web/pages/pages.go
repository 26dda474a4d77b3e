// Package pages renders lingpai's browser pages (sign-in, signed in, consent, errors, signed out)
// from html/template, in Simplified Chinese or English, with no JavaScript: they work with a
// keyboard, a screen reader and scripts turned off. The one exception is the response_mode=form_post
// page fosite renders (FormPost): a one-line script submits it, and a <noscript> button does
// without the script.
package pages

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"golang.org/x/text/language"
)

//go:embed templates/*.html
var files embed.FS

// Brand is the product's name and logo (config ui.*).
type Brand struct {
	ProductName string
	LogoURL     string
}

// Renderer renders pages.
type Renderer struct {
	brand Brand
	tmpl  *template.Template
}

// New parses the templates once.
func New(brand Brand) (*Renderer, error) {
	t, err := template.New("").Funcs(template.FuncMap{
		"t":              func(lang, key string) string { return text(lang, key) },
		"brand":          func() Brand { return brand },
		"formPostScript": func() template.JS { return formPostScript },
	}).ParseFS(files, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("pages: %w", err)
	}
	return &Renderer{brand: brand, tmpl: t}, nil
}

// formPostScript submits the form_post page; FormPostCSP allows exactly this script.
const formPostScript = `document.forms[0].submit()`

// FormPostCSP is the Content-Security-Policy for the form_post page: no script but formPostScript
// (by its hash), no frames, no referrer-bearing subresources but the logo.
var FormPostCSP = func() string {
	sum := sha256.Sum256([]byte(formPostScript))
	return "default-src 'none'; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
		"style-src 'unsafe-inline'; img-src 'self' https: data:; base-uri 'none'; frame-ancestors 'none'"
}()

// FormPost is the template for fosite's Config.FormPostHTMLTemplate: the response_mode=form_post
// page that carries the authorization response (or error) to the client's redirect URI. fosite
// executes it with struct{ RedirURL string; Parameters url.Values } (WriteAuthorizeFormPostResponse).
// fosite gives it no request, so the page is in both languages, Chinese first.
func (r *Renderer) FormPost() *template.Template { return r.tmpl.Lookup("form_post.html") }

var (
	supported = []language.Tag{language.SimplifiedChinese, language.English}
	matcher   = language.NewMatcher(supported)
)

// Lang picks zh-CN or en: ui_locales (the OIDC request's wish) first, then Accept-Language.
func Lang(uiLocales string, r *http.Request) string {
	var prefs []language.Tag
	for _, l := range strings.Fields(uiLocales) {
		if tag, err := language.Parse(l); err == nil {
			prefs = append(prefs, tag)
		}
	}
	// Accept-Language after them: it decides when ui_locales names only languages we lack.
	accept, _, _ := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	prefs = append(prefs, accept...)
	if len(prefs) == 0 {
		return "zh-CN" // most of lingpai's users read Chinese first
	}
	_, idx, conf := matcher.Match(prefs...)
	if conf == language.No {
		return "zh-CN"
	}
	if idx == 0 {
		return "zh-CN"
	}
	return "en"
}

// Page is what every template gets.
type Page struct {
	Lang      string
	Brand     Brand
	Title     string
	Error     string // a message key, shown in an alert
	Data      any
	OtherLn   string // the other language, for the switch link
	SwitchURL string
}

// Render writes page name with status.
func (r *Renderer) Render(w http.ResponseWriter, status int, name string, p Page) {
	p.Brand = r.brand
	if p.Lang == "en" {
		p.OtherLn = "zh-CN"
	} else {
		p.OtherLn = "en"
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; form-action 'self' http: https:; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_ = r.tmpl.ExecuteTemplate(w, name+".html", p)
}

// ScopeText describes a scope in plain words.
func ScopeText(lang, scope string) string {
	if s := text(lang, "scope."+scope); s != "scope."+scope {
		return s
	}
	return fmt.Sprintf(text(lang, "scope.other"), scope)
}
