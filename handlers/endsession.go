package handlers

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"slices"

	"github.com/lingpai/lingpai/internal/reqctx"
	"github.com/lingpai/lingpai/internal/web/pages"
)

// EndSession serves GET and POST /connect/endsession (OIDC RP-Initiated Logout 1.0).
func (h *Web) EndSession(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		h.badPage(w, r)
		return
	}
	lang := pages.Lang(r.Form.Get("ui_locales"), r)
	redirect := r.Form.Get("post_logout_redirect_uri")
	var target *url.URL
	if redirect != "" {
		var claims struct {
			Aud any `json:"aud"`
		}
		hint := r.Form.Get("id_token_hint")
		payload, err := h.VerifyIDToken(ctx, hint)
		if hint == "" || err != nil || json.Unmarshal(payload, &claims) != nil {
			h.Pages.Render(w, http.StatusBadRequest, "error", pages.Page{Lang: lang, Title: pagesText(lang, "error.title"), Error: "error.request"})
			return
		}
		clientID := ""
		switch a := claims.Aud.(type) {
		case string:
			clientID = a
		case []any:
			if len(a) > 0 {
				clientID, _ = a[0].(string)
			}
		}
		client, err := h.client(ctx, clientID)
		if h.down(ctx, err) {
			h.unavailablePage(w, r)
			return
		}
		if err != nil || !slices.Contains(client.GetPostLogoutRedirectURIs(), redirect) {
			h.Pages.Render(w, http.StatusBadRequest, "error", pages.Page{Lang: lang, Title: pagesText(lang, "error.title"), Error: "error.client"})
			return
		}
		if target, err = url.Parse(redirect); err != nil {
			h.badPage(w, r)
			return
		}
	}
	if err := h.Sessions.End(w, r); err != nil {
		// The session is still live in the database: the user is not signed out, so say so.
		h.Logger.ErrorContext(ctx, "end session", "error", err)
		h.unavailablePage(w, r)
		return
	}
	reqctx.From(ctx).Add(slog.String("outcome", "signed_out"))
	if target != nil {
		if state := r.Form.Get("state"); state != "" {
			q := target.Query()
			q.Set("state", state)
			target.RawQuery = q.Encode()
		}
		http.Redirect(w, r, target.String(), http.StatusFound)
		return
	}
	h.Pages.Render(w, http.StatusOK, "signedout", pages.Page{Lang: lang, Title: pagesText(lang, "signedout.title")})
}
