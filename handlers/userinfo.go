package handlers

import (
	"errors"
	"mime"
	"net/http"
	"strings"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/internal/session"
)

// UserInfo serves GET and POST /connect/userinfo (OIDC Core 5.3) for a Bearer access token.
func (h *Web) UserInfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.URL.Query().Has("access_token") {
		// RFC 9700 section 4.3.2: a token in the URL ends up in logs and Referer headers. RFC 6750
		// section 2.3's query form is refused; the header and the form body remain.
		writeBearerError(w, errTokenInQuery, "")
		return
	}
	token := bearerToken(r)
	if token == "" {
		// RFC 6750 section 3.1: no error attribute when the request had no token at all.
		w.Header().Set("WWW-Authenticate", `Bearer realm="lingpai"`)
		WriteError(w, errInvalidToken)
		return
	}
	use, ar, err := h.Provider.IntrospectToken(ctx, token, fosite.AccessToken, session.New())
	if h.down(ctx, err) {
		// The token could not be checked: the app must not be told it is bad.
		WriteError(w, errUnavailable)
		return
	}
	if err != nil || use != fosite.AccessToken {
		writeBearerError(w, errInvalidToken, "")
		return
	}
	if !ar.GetGrantedScopes().Has("openid") {
		writeBearerError(w, errInsufficientScope, "openid")
		return
	}
	sub := ar.GetSession().GetSubject()
	user, err := h.Accounts.Profile(ctx, sub)
	switch {
	case errors.Is(err, fosite.ErrNotFound) || (err == nil && user.Disabled):
		writeBearerError(w, errInvalidToken, "")
		return
	case err != nil:
		WriteError(w, errUnavailable)
		return
	}
	all, err := h.Accounts.Claims(ctx, sub)
	if err != nil {
		WriteError(w, errUnavailable)
		return
	}
	sets, err := h.ScopeClaims.Sets(ctx)
	if err != nil {
		WriteError(w, errUnavailable)
		return
	}
	claims := sets.Release(all, ar.GetGrantedScopes())
	if sess, ok := ar.GetSession().(*session.Session); ok {
		// Claims the grant added (directory groups, say) count too, still filtered by scope.
		for k, v := range sets.Release(sess.IDTokenClaims().Extra, ar.GetGrantedScopes()) {
			if _, set := claims[k]; !set {
				claims[k] = v
			}
		}
	}
	claims["sub"] = sub
	WriteJSON(w, http.StatusOK, claims)
}

// errTokenInQuery refuses RFC 6750 section 2.3's query parameter.
var errTokenInQuery = rfcError(http.StatusBadRequest, "invalid_request", "The access token must be sent in the Authorization header or the form body, never in the URL.")

// bearerToken reads the access token from the Authorization header (RFC 6750 section 2.1) or a
// form-encoded body (section 2.2), never from the query string.
func bearerToken(r *http.Request) string {
	if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "bearer") {
		return strings.TrimSpace(tok)
	}
	if r.Method != http.MethodPost {
		return ""
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
		return ""
	}
	if err := r.ParseForm(); err != nil {
		return ""
	}
	return r.PostForm.Get("access_token")
}
