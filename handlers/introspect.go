package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/internal/clientauth"
	"github.com/lingpai/lingpai/internal/reqctx"
	"github.com/lingpai/lingpai/internal/session"
)

// Introspect serves POST /connect/introspect (RFC 7662). Only an authenticated client may ask:
// fosite also lets any bearer of an access token introspect other tokens, which would hand every
// client the profile claims of every user's token, so a Bearer header is refused here.
type Introspect struct {
	Provider fosite.OAuth2Provider
	// Healthy reports whether the database answers; while it does not, a failure is 503, not a
	// 401 for a client that could not be looked up or "inactive" for a token that could not be.
	Healthy func(ctx context.Context) error
	// Issuer is the iss of every active answer (RFC 7662 2.2).
	Issuer string
	// Client looks up the calling client (authenticated by fosite by then), for the policy below.
	Client func(ctx context.Context, id string) (fosite.Client, error)
	// Unavailable: as for Token.
	Unavailable func(error) bool
}

// Introspector is implemented by clients that may introspect any access token (resource servers
// registered with --can-introspect).
type Introspector interface {
	CanIntrospectAny() bool
}

func (h *Introspect) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	info := reqctx.From(ctx)
	if err := r.ParseForm(); err != nil {
		WriteError(w, errBadForm)
		return
	}
	if err := checkClientRequest(r); err != nil {
		WriteError(w, err)
		return
	}
	if err := checkLengths(r.PostForm); err != nil {
		WriteError(w, err)
		return
	}
	if clientIDMismatch(r) {
		info.Add(slog.String("outcome", "invalid_request"))
		WriteError(w, errClientIDMismatch)
		return
	}
	if !clientCredentialsAsBasic(r) {
		info.Add(slog.String("outcome", "invalid_client"))
		WriteError(w, errClientAuthRequired)
		return
	}
	ir, err := h.Provider.NewIntrospectionRequest(ctx, r, session.New())
	if err != nil {
		if (h.Unavailable != nil && h.Unavailable(err)) || storageDown(ctx, h.Healthy) {
			info.Add(slog.String("outcome", "temporarily_unavailable"))
			WriteError(w, errUnavailable)
			return
		}
		// An inactive token wraps whatever made it so (often a 401 itself): it is active:false.
		if !errors.Is(err, fosite.ErrInactiveToken) && errors.Is(err, fosite.ErrRequestUnauthorized) {
			if clientauth.Busy(ctx) { // the secret was never checked: the hashing limit was full
				info.Add(slog.String("outcome", "temporarily_unavailable"))
				WriteError(w, errUnavailable)
				return
			}
			info.Add(slog.String("outcome", "invalid_client"))
			WriteError(w, errClientAuthFailed)
			return
		}
		rfc := fosite.ErrorToRFC6749Error(err)
		info.Add(slog.String("outcome", rfc.ErrorField))
		if !errors.Is(err, fosite.ErrInactiveToken) && errors.Is(err, fosite.ErrInvalidRequest) {
			WriteError(w, err)
			return
		}
		h.Provider.WriteIntrospectionError(ctx, w, err) // {"active":false}
		return
	}
	caller := basicClientID(r)
	info.Add(slog.String("client_id", caller))
	if ir.IsActive() {
		allowed, err := h.mayIntrospect(ctx, caller, ir)
		if err != nil {
			info.Add(slog.String("outcome", "temporarily_unavailable"))
			WriteError(w, errUnavailable)
			return
		}
		if !allowed {
			// RFC 7662 section 2.2: the server may answer inactive for a token the caller may not see.
			info.Add(slog.String("outcome", "token_not_visible"))
			h.Provider.WriteIntrospectionError(ctx, w, fosite.ErrInactiveToken)
			return
		}
	}
	info.Add(slog.Bool("active", ir.IsActive()))
	if !ir.IsActive() {
		h.Provider.WriteIntrospectionResponse(ctx, w, ir)
		return
	}
	// fosite's answer, plus what RFC 7662 2.2 lists and fosite leaves out: iss and token_type.
	body := introspectionBody(ir)
	body["iss"], body["token_type"] = h.Issuer, "Bearer"
	WriteJSON(w, http.StatusOK, body)
}

// introspectionBody is what fosite's WriteIntrospectionResponse writes for an active token, as a
// map to amend before it is encoded once (rather than written, parsed back and written again).
func introspectionBody(ir fosite.IntrospectionResponder) map[string]any {
	ar := ir.GetAccessRequester()
	sess := ar.GetSession()
	body := map[string]any{"active": true}
	if ec, ok := sess.(fosite.ExtraClaimsSession); ok {
		for name, value := range ec.GetExtraClaims() {
			switch name {
			case "exp", "client_id", "scope", "iat", "sub", "aud", "username":
			default:
				body[name] = value
			}
		}
	}
	if exp := sess.GetExpiresAt(fosite.AccessToken); !exp.IsZero() {
		body["exp"] = exp.Unix()
	}
	if id := ar.GetClient().GetID(); id != "" {
		body["client_id"] = id
	}
	if scopes := ar.GetGrantedScopes(); len(scopes) > 0 {
		body["scope"] = strings.Join(scopes, " ")
	}
	if iat := ar.GetRequestedAt(); !iat.IsZero() {
		body["iat"] = iat.Unix()
	}
	if sub := sess.GetSubject(); sub != "" {
		body["sub"] = sub
	}
	if aud := ar.GetGrantedAudience(); len(aud) > 0 {
		body["aud"] = aud
	}
	if u := sess.GetUsername(); u != "" {
		body["username"] = u
	}
	return body
}

// clientCredentialsAsBasic reports whether r carries client credentials, moving client_id and
// client_secret from the body into an HTTP Basic header where needed: fosite's introspection
// reads Basic only, while the token endpoint (and IdentityServer's clients) also send them in the
// body. A Bearer header is not client authentication.
func clientCredentialsAsBasic(r *http.Request) bool {
	if _, _, ok := r.BasicAuth(); ok {
		return true
	}
	if r.Header.Get("Authorization") != "" || r.ParseForm() != nil {
		return false
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if id == "" || secret == "" {
		return false
	}
	r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret)) // fosite unescapes (RFC 6749 section 2.3.1)
	r.PostForm.Del("client_secret")
	return true
}

// mayIntrospect is the introspection policy: a client sees tokens issued to it and access tokens
// whose aud names it; a resource server (CanIntrospectAny) sees any access token; a refresh token
// is visible to its own client only.
func (h *Introspect) mayIntrospect(ctx context.Context, caller string, ir fosite.IntrospectionResponder) (bool, error) {
	token := ir.GetAccessRequester()
	if token.GetClient() != nil && token.GetClient().GetID() == caller {
		return true, nil
	}
	if ir.GetTokenUse() != fosite.AccessToken {
		return false, nil
	}
	if slices.Contains(token.GetGrantedAudience(), caller) {
		return true, nil
	}
	if h.Client == nil {
		return false, nil
	}
	c, err := h.Client(ctx, caller)
	if err != nil {
		return false, err
	}
	rs, ok := c.(Introspector)
	return ok && rs.CanIntrospectAny(), nil
}

// basicClientID is the client id of the request's Basic credentials (form-decoded, RFC 6749
// section 2.3.1); clientCredentialsAsBasic has moved body credentials there.
func basicClientID(r *http.Request) string {
	user, _, _ := r.BasicAuth()
	id, err := url.QueryUnescape(user)
	if err != nil {
		return ""
	}
	return id
}
