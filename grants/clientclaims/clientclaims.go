// Package clientclaims puts a client's own claims into its access tokens, as IdentityServer4 did
// with ClientClaims: named with the client's prefix (IS4's ClientClaimsPrefix, "client_" by
// default), always for client_credentials and for user grants only when AlwaysSendClientClaims
// is set. The claims come from storage.ClientSettings (filled by the IS4 import).
//
// Wiring: append Handler{} to the token endpoint handlers after every grant handler (it reads the
// session they prepared, and refresh restores the session before it runs):
//
//	token = append(token, clientclaims.Handler{})
package clientclaims

import (
	"context"
	"strings"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/internal/session"
	"github.com/lingpai/lingpai/storage"
)

// Handler adds the claims while the request is handled and issues nothing itself.
type Handler struct{}

var _ fosite.TokenEndpointHandler = Handler{}

func settings(ar fosite.AccessRequester) *storage.ClientSettings {
	c, ok := ar.GetClient().(interface {
		Settings() *storage.ClientSettings
	})
	if !ok {
		return nil
	}
	return c.Settings()
}

// CanHandleTokenEndpointRequest is true for clients with claims to send on this grant.
func (Handler) CanHandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) bool {
	set := settings(ar)
	if set == nil || len(set.ClientClaims) == 0 {
		return false
	}
	return set.AlwaysSendClientClaims || ar.GetGrantTypes().ExactOne("client_credentials")
}

// CanSkipClientAuth implements fosite.TokenEndpointHandler.
func (Handler) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool { return false }

// HandleTokenEndpointRequest writes the claims into the access token's claims. It answers
// ErrUnknownRequest (which fosite ignores) rather than nil, so it never counts as the handler
// that served the grant: an unsupported grant_type stays an error.
func (h Handler) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	sess, ok := ar.GetSession().(*session.Session)
	if !ok {
		return fosite.ErrUnknownRequest
	}
	set := settings(ar)
	multi := map[string][]string{}
	for _, c := range set.ClientClaims {
		typ, value, ok := strings.Cut(c, "=")
		if !ok || typ == "" {
			continue
		}
		name := set.ClaimsPrefix + typ
		if _, reserved := reservedClaims[name]; reserved {
			continue // a client claim never overrides sub, client_id, scope, ...
		}
		multi[name] = append(multi[name], value)
		if len(multi[name]) == 1 {
			sess.JWTClaims.Extra[name] = value
		} else {
			sess.JWTClaims.Extra[name] = multi[name]
		}
	}
	return fosite.ErrUnknownRequest
}

// PopulateTokenEndpointResponse issues nothing.
func (Handler) PopulateTokenEndpointResponse(context.Context, fosite.AccessRequester, fosite.AccessResponder) error {
	return fosite.ErrUnknownRequest
}

var reservedClaims = map[string]struct{}{"iss": {}, "sub": {}, "aud": {}, "exp": {}, "nbf": {}, "iat": {}, "jti": {},
	"client_id": {}, "scope": {}, "scp": {}, "amr": {}, "auth_time": {}, "sid": {}}
