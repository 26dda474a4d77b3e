package handlers

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/lingpai/lingpai/internal/reqctx"
	"github.com/lingpai/lingpai/internal/web/pages"
)

type consentData struct {
	CSRF, ReturnTo, ClientName, User string
	Scopes                           []string
}

// Consent serves GET and POST /account/consent.
func (h *Web) Consent(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	raw, q, ok := h.returnTarget(w, r)
	if !ok {
		return
	}
	ls, err := h.Sessions.Current(r)
	if err != nil {
		h.unavailablePage(w, r)
		return
	}
	if ls == nil {
		http.Redirect(w, r, "/account/login?return_to="+url.QueryEscape(raw), http.StatusFound)
		return
	}
	client, err := h.client(ctx, q.Get("client_id"))
	if h.down(ctx, err) {
		h.unavailablePage(w, r)
		return
	}
	if err != nil {
		h.badPage(w, r)
		return
	}
	scopes := strings.Fields(q.Get("scope"))
	if len(scopes) == 0 {
		scopes = client.GetScopes()
	}
	lang := pages.Lang(q.Get("ui_locales"), r)
	if r.Method == http.MethodPost {
		if h.formForged(r, "consent") {
			reqctx.From(ctx).Add(slog.String("outcome", "csrf_rejected"))
			h.Pages.Render(w, http.StatusForbidden, "error", pages.Page{Lang: lang, Title: pagesText(lang, "error.title"), Error: "signin.csrf"})
			return
		}
		if r.PostForm.Get("decision") != "allow" {
			reqctx.From(ctx).Add(slog.String("outcome", "consent_denied"))
			http.Redirect(w, r, raw+"&lp_consent=denied", http.StatusSeeOther)
			return
		}
		if err := h.Store.SaveConsent(ctx, ls.UserID, client.GetID(), scopes); err != nil {
			h.Logger.ErrorContext(ctx, "consent: save", "error", err)
			h.unavailablePage(w, r)
			return
		}
		reqctx.From(ctx).Add(slog.String("outcome", "consent_granted"))
		http.Redirect(w, r, raw, http.StatusSeeOther)
		return
	}
	csrf, err := h.Sessions.CSRFToken(w, r, "consent")
	if err != nil {
		h.unavailablePage(w, r)
		return
	}
	user, err := h.Accounts.Profile(ctx, ls.UserID)
	if h.down(ctx, err) {
		h.unavailablePage(w, r)
		return
	}
	if err != nil {
		h.badPage(w, r)
		return
	}
	data := consentData{CSRF: csrf, ReturnTo: raw, ClientName: client.GetName(), User: user.DisplayName}
	for _, s := range scopes {
		data.Scopes = append(data.Scopes, pages.ScopeText(lang, s))
	}
	h.Pages.Render(w, http.StatusOK, "consent", pages.Page{Lang: lang, Title: pagesText(lang, "consent.title"), Data: data, SwitchURL: switchURL(r, lang)})
}
