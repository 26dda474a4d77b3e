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

// EndSession serves GET and POST /connect/endsession (OIDC RP-Initiated Logout 1.0). With a valid
// id_token_hint the session ends at once (and the browser goes to a registered
// post_logout_redirect_uri). Without one any site could sign users out by linking here, so the
// user is asked first (section 2 allows it): a page whose POST form carries a CSRF token bound to
// this browser's session.
func (h *Web) EndSession(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		h.badPage(w, r)
		return
	}
	lang := pages.Lang(r.Form.Get("ui_locales"), r)
	redirect := r.Form.Get("post_logout_redirect_uri")
	hint := r.Form.Get("id_token_hint")
	var aud string
	hinted := false
	if hint != "" {
		var claims struct {
			Aud any `json:"aud"`
		}
		if payload, err := h.VerifyIDToken(ctx, hint); err == nil && json.Unmarshal(payload, &claims) == nil {
			hinted = true
			switch a := claims.Aud.(type) {
			case string:
				aud = a
			case []any:
				if len(a) > 0 {
					aud, _ = a[0].(string)
				}
			}
		}
	}
	var target *url.URL
	if redirect != "" {
		if !hinted {
			h.Pages.Render(w, http.StatusBadRequest, "error", pages.Page{Lang: lang, Title: pagesText(lang, "error.title"), Error: "error.request"})
			return
		}
		client, err := h.client(ctx, aud)
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
	if !hinted {
		confirmed := r.Method == http.MethodPost && r.PostForm.Has("csrf_token")
		if confirmed && h.formForged(r, "logout") {
			reqctx.From(ctx).Add(slog.String("outcome", "csrf_rejected"))
			h.Pages.Render(w, http.StatusForbidden, "error", pages.Page{Lang: lang, Title: pagesText(lang, "error.title"), Error: "signin.csrf"})
			return
		}
		if !confirmed {
			if ls, err := h.Sessions.Current(r); err == nil && ls != nil {
				csrf, err := h.Sessions.CSRFToken(w, r, "logout")
				if err != nil {
					h.badPage(w, r)
					return
				}
				reqctx.From(ctx).Add(slog.String("outcome", "logout_confirmation"))
				h.Pages.Render(w, http.StatusOK, "logout", pages.Page{Lang: lang, Title: pagesText(lang, "logout.title"),
					Data: logoutData{CSRF: csrf, UILocales: r.Form.Get("ui_locales")}})
				return
			}
			// Not signed in: nothing to end, nothing to ask.
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

type logoutData struct {
	CSRF      string
	UILocales string
}
