package handlers

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/grants"
	"github.com/lingpai/lingpai/internal/reqctx"
	"github.com/lingpai/lingpai/internal/session"
)

// Authorize serves GET and POST /connect/authorize (RFC 6749 4.1, OIDC Core 3.1.2).
func (h *Web) Authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	early := authorizePrecheck(r)
	ar, err := h.Provider.NewAuthorizeRequest(ctx, r)
	if errors.Is(err, fosite.ErrInvalidState) {
		// fosite's last check, so the request is otherwise valid: it insists on a state of 8
		// characters or more, but state is optional (RFC 6749 4.1.1, OIDC Core 3.1.2.1; PKCE is
		// the CSRF defence RFC 9700 names) and invalid_state is no registered error code.
		err = nil
	}
	if early != nil {
		// Sent to the client once fosite has proven the redirect URI; an error page otherwise,
		// and always when the client or redirect URI itself is ambiguous (sent twice).
		if p := repeatedParam(r.Form); p == "client_id" || p == "redirect_uri" {
			ar = nil
		}
		h.authorizeError(w, r, ar, early)
		return
	}
	if err != nil {
		h.authorizeError(w, r, ar, err)
		return
	}
	if !exactRedirectURI(ar) {
		// fosite let it through as a loopback URI on another port (RFC 8252 7.3); we do not.
		h.authorizeError(w, r, ar, fosite.ErrInvalidRequest.WithHint("The 'redirect_uri' parameter does not exactly match a pre-registered redirect URI."))
		return
	}
	form := ar.GetRequestForm()
	client, ok := ar.GetClient().(grants.ClientPolicy)
	if !ok {
		h.authorizeError(w, r, ar, fosite.ErrServerError.WithDebug("client type"))
		return
	}
	reqctx.From(ctx).Add(slog.String("client_id", client.GetID()))
	if client.MustUsePKCE() && form.Get("code_challenge") == "" {
		h.authorizeError(w, r, ar, fosite.ErrInvalidRequest.WithHint("This client must use PKCE (code_challenge with S256)."))
		return
	}
	if form.Get("lp_consent") == "denied" {
		h.authorizeError(w, r, ar, fosite.ErrAccessDenied.WithHint("The user denied the request."))
		return
	}
	grants.DefaultScopes(ar, true) // as at the token endpoint: omitted means all allowed
	prompt := strings.Fields(form.Get("prompt"))
	ls, err := h.Sessions.Current(r)
	if err != nil {
		h.authorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err))
		return
	}
	if ls != nil {
		p, err := h.Accounts.Profile(ctx, ls.UserID)
		if err != nil && !errors.Is(err, fosite.ErrNotFound) {
			h.authorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err))
			return
		}
		if err != nil || p.Disabled {
			_ = h.Sessions.End(w, r)
			ls = nil
		}
	}
	if ls == nil || slices.Contains(prompt, "login") || maxAgeExceeded(form.Get("max_age"), ls.AuthTime, ar.GetRequestedAt()) {
		if slices.Contains(prompt, "none") {
			h.authorizeError(w, r, ar, fosite.ErrLoginRequired.WithHint("The user is not signed in."))
			return
		}
		http.Redirect(w, r, "/account/login?return_to="+url.QueryEscape(returnTo(r, form, "login")), http.StatusFound)
		return
	}
	requested, subject := ar.GetRequestedScopes(), ls.UserID
	if client.NeedsConsent() {
		granted, err := h.Store.ConsentOf(ctx, subject, client.GetID())
		if err != nil {
			h.authorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err))
			return
		}
		if slices.Contains(prompt, "consent") || !containsAll(granted, requested) {
			if slices.Contains(prompt, "none") {
				h.authorizeError(w, r, ar, fosite.ErrConsentRequired.WithHint("The user has not consented."))
				return
			}
			http.Redirect(w, r, "/account/consent?return_to="+url.QueryEscape(returnTo(r, form, "consent")), http.StatusFound)
			return
		}
	}
	grants.GrantRequested(ar)
	claims, err := h.Accounts.Claims(ctx, subject)
	if err != nil {
		h.authorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err))
		return
	}
	sets, err := h.ScopeClaims.Sets(ctx)
	if err != nil {
		h.authorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err))
		return
	}
	sess := session.New()
	grants.ApplyIdentity(sess, "authorization_code", grants.Identity{
		Subject: subject, Claims: claims, AMR: strings.Fields(ls.AMR),
	}, ar.GetGrantedScopes(), sets)
	sess.IDTokenClaims().AuthTime = ls.AuthTime.UTC()
	// fosite checks prompt=none/login and max_age by comparing auth_time with this; maxAgeExceeded
	// above decided with the same two times.
	sess.IDTokenClaims().RequestedAt = ar.GetRequestedAt().UTC()
	sess.IDTokenClaims().Extra["sid"] = ls.SID
	sess.JWTClaims.Extra["client_id"] = client.GetID()
	resp, err := h.Provider.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		h.authorizeError(w, r, ar, err)
		return
	}
	params := resp.GetParameters()
	if ar.GetState() == "" {
		params.Del("state") // never an empty state= when the client sent none
	}
	params.Set("iss", h.Issuer) // RFC 9207
	reqctx.From(ctx).Add(slog.String("outcome", "code_issued"), slog.String("subject", subject))
	formPostHeaders(w, ar)
	h.Provider.WriteAuthorizeResponse(ctx, w, ar, resp)
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// authorizePrecheck applies what lingpai checks before fosite reads an authorize request, and
// removes request and request_uri from r's form so that fosite goes on to validate the redirect
// URI (it stops at them otherwise, and the error could only be shown as a page):
//   - a repeated parameter is invalid_request (RFC 6749 3.1);
//   - request / request_uri are request_not_supported / request_uri_not_supported (OIDC Core 6.2,
//     3.1.2.6: lingpai supports no request objects, as discovery says);
//   - PKCE's plain method (or a challenge without a method, which means plain) is refused here,
//     before the user signs in, not after (fosite's PKCE handler runs when the code is issued).
func authorizePrecheck(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return nil //nolint:nilerr // an unparsable form is fosite's to report, with the redirect rules it applies
	}
	if p := repeatedParam(r.Form); p != "" {
		return fosite.ErrInvalidRequest.WithHintf("The parameter '%s' is included more than once.", p)
	}
	var err error
	switch {
	case r.Form.Has("request"):
		err = fosite.ErrRequestNotSupported.WithHint("Request objects (the 'request' parameter) are not supported.")
	case r.Form.Has("request_uri"):
		err = fosite.ErrRequestURINotSupported.WithHint("The 'request_uri' parameter is not supported.")
	}
	if err != nil {
		for _, v := range []url.Values{r.Form, r.PostForm} {
			v.Del("request")
			v.Del("request_uri")
		}
		return err
	}
	if r.Form.Get("code_challenge") != "" && r.Form.Get("code_challenge_method") != "S256" {
		return fosite.ErrInvalidRequest.WithHint("PKCE must use code_challenge_method S256; plain is not allowed.")
	}
	return nil
}
