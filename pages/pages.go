// Package pages renders lingpai's browser pages (sign-in, consent, errors, signed out) from
// html/template, in Simplified Chinese or English, with no JavaScript: they work with a keyboard,
// a screen reader and scripts turned off.
package pages

import (
	"embed"
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
		"t": func(lang, key string) string { return text(lang, key) },
	}).ParseFS(files, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("pages: %w", err)
	}
	return &Renderer{brand: brand, tmpl: t}, nil
}

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
	if len(prefs) == 0 {
		prefs, _, _ = language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	}
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
