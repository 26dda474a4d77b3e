package grants

import (
	"context"
	"log/slog"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/internal/reqctx"
	"github.com/lingpai/lingpai/internal/session"
)

// ClientPolicy is what lingpai knows of a client beyond fosite.Client; storage's clients
// implement it. Grants and handlers read it through this interface, never a storage type.
type ClientPolicy interface {
	fosite.Client
	GetName() string
	MustUsePKCE() bool
	NeedsConsent() bool
	GetPostLogoutRedirectURIs() []string
	TrustsWeChatOpenID() bool
}

// identityScopes are scopes about a user; a client_credentials token has no user, so omitting
// scope does not grant them there.
var identityScopes = map[string]bool{
	"openid": true, "profile": true, "email": true, "phone": true, "address": true, "offline_access": true, "offline": true,
}

// carried reports whether grant type gt carries its scopes and audience from an earlier grant
// (the authorize request, the refresh token's original grant) instead of deciding them now.
func carried(gt string) bool { return gt == "refresh_token" || gt == "authorization_code" }

// Policy is the first fosite handler of every token request: the rules every grant shares, in one
// place and one order. The client must be registered for the grant type (unauthorized_client);
// an omitted scope means every scope the client is allowed (the IdentityServer behaviour the seed
// asks for; identity scopes only where there is a user); every requested scope must be allowed
// (invalid_scope); the audience defaults to the client's. Scopes and audience are granted here,
// before any grant authenticates anyone: a request that fails later issues nothing.
type Policy struct {
	// GrantTypes are the grant types it governs (grants.enabled).
	GrantTypes []string
	// UnstoredAccessTokens (tokens.store_access_tokens: false) puts the grant into access tokens.
	UnstoredAccessTokens bool
	Config               interface {
		fosite.ScopeStrategyProvider
		fosite.AudienceStrategyProvider
	}
}

var _ fosite.TokenEndpointHandler = (*Policy)(nil)

// CanSkipClientAuth implements fosite.TokenEndpointHandler.
func (p *Policy) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool { return false }

// CanHandleTokenEndpointRequest implements fosite.TokenEndpointHandler.
func (p *Policy) CanHandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) bool {
	return ar.GetGrantTypes().ExactOne(grantType(ar)) && slices.Contains(p.GrantTypes, grantType(ar))
}

// HandleTokenEndpointRequest applies the shared rules.
func (p *Policy) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if !p.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	gt, client := grantType(ar), ar.GetClient()
	// fosite has authenticated the client by now: from here on the request's log lines (sign-in
	// events included) name it.
	reqctx.From(ctx).Add(slog.String("client_id", client.GetID()))
	if !client.GetGrantTypes().Has(gt) {
		return fosite.ErrUnauthorizedClient.WithHintf("The client is not allowed to use grant type '%s'.", gt)
	}
	if gt == "client_credentials" && client.IsPublic() {
		// RFC 6749 4.4: only a confidential client has credentials of its own to present.
		return fosite.ErrUnauthorizedClient.WithHint("A public client cannot use the client_credentials grant.")
	}
	if carried(gt) {
		return nil
	}
	DefaultScopes(ar, gt != "client_credentials")
	scopeAllowed := p.Config.GetScopeStrategy(ctx)
	for _, s := range ar.GetRequestedScopes() {
		if !scopeAllowed(client.GetScopes(), s) {
			return fosite.ErrInvalidScope.WithHintf("The client is not allowed to request scope '%s'.", s)
		}
	}
	if err := p.Config.GetAudienceStrategy(ctx)(client.GetAudience(), ar.GetRequestedAudience()); err != nil {
		return err
	}
	GrantRequested(ar)
	return nil
}

// PopulateTokenEndpointResponse runs before any handler issues a token: it names the client in
// the access token (and makes it the subject when there is no user, RFC 9068 section 2.2).
func (p *Policy) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, _ fosite.AccessResponder) error {
	if !p.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	sess, ok := ar.GetSession().(*session.Session)
	if !ok {
		return fosite.ErrServerError.WithDebugf("session type %T", ar.GetSession())
	}
	sess.JWTClaims.Extra["client_id"] = ar.GetClient().GetID()
	if p.UnstoredAccessTokens {
		// What can revoke a token without a row (internal/jwtaccess): its grant, and the grant
		// type that says whether its subject is a lingpai user (grants.ActiveSubject).
		sess.JWTClaims.Extra[session.ClaimGrantID] = ar.GetID()
		sess.JWTClaims.Extra[session.ClaimGrantType] = sess.GrantType
	}
	if grantType(ar) == "client_credentials" {
		sess.JWTClaims.Subject = ar.GetClient().GetID()
	}
	return nil
}

// DefaultScopes makes an omitted scope mean every scope the client is allowed; withUser false
// leaves out the identity scopes (openid, profile, offline_access...), which need a user.
func DefaultScopes(r fosite.Requester, withUser bool) {
	if len(r.GetRequestedScopes()) > 0 {
		return
	}
	var scopes fosite.Arguments
	for _, s := range r.GetClient().GetScopes() {
		if withUser || !identityScopes[s] {
			scopes = append(scopes, s)
		}
	}
	r.SetRequestedScopes(scopes)
}

// GrantRequested grants the requested scopes and audience (the client's audience when none was
// requested). Callers have checked both against the client.
func GrantRequested(r fosite.Requester) {
	for _, s := range r.GetRequestedScopes() {
		r.GrantScope(s)
	}
	aud := r.GetRequestedAudience()
	if len(aud) == 0 {
		aud = r.GetClient().GetAudience()
	}
	for _, a := range aud {
		r.GrantAudience(a)
	}
}

func grantType(ar fosite.AccessRequester) string {
	if gt := ar.GetGrantTypes(); len(gt) == 1 {
		return gt[0]
	}
	return ""
}

// RefreshScope is the scope rule of a refresh (RFC 6749 section 6), a step right after fosite's
// refresh handler, which restores the family's granted scopes and ignores the scope parameter. A
// scope sent with the refresh must be among those originally granted (invalid_scope otherwise)
// and narrows the new access token, id_token and response to it. The new refresh token keeps the
// family's full scope ("identical to that of the refresh token included by the client"):
// KeepRefreshScope puts it back when the refresh token is stored.
type RefreshScope struct{}

var _ fosite.TokenEndpointHandler = RefreshScope{}

// CanSkipClientAuth implements fosite.TokenEndpointHandler.
func (RefreshScope) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool { return false }

// CanHandleTokenEndpointRequest implements fosite.TokenEndpointHandler.
func (RefreshScope) CanHandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) bool {
	return ar.GetGrantTypes().ExactOne("refresh_token")
}

// HandleTokenEndpointRequest narrows the granted scopes to the requested ones.
func (p RefreshScope) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if !p.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	requested := fosite.RemoveEmpty(strings.Split(ar.GetRequestForm().Get("scope"), " "))
	if len(requested) == 0 {
		return nil // omitted: the scope originally granted
	}
	granted := ar.GetGrantedScopes()
	for _, s := range requested {
		if !granted.Has(s) {
			return fosite.ErrInvalidScope.WithHintf("The scope '%s' was not granted to the refresh token.", s)
		}
	}
	req, ok := ar.(*fosite.AccessRequest)
	sess, sok := ar.GetSession().(*session.Session)
	if !ok || !sok {
		return fosite.ErrServerError.WithDebugf("refresh scope: request %T, session %T", ar, ar.GetSession())
	}
	sess.RefreshScope = slices.Clone(granted)
	req.GrantedScope = slices.Clone(fosite.Arguments(requested))
	return nil
}

// PopulateTokenEndpointResponse implements fosite.TokenEndpointHandler; it adds nothing.
func (RefreshScope) PopulateTokenEndpointResponse(context.Context, fosite.AccessRequester, fosite.AccessResponder) error {
	return fosite.ErrUnknownRequest
}

// KeepRefreshScope returns the request to store with a new refresh token: req itself, or, when
// RefreshScope narrowed this refresh, a copy granted the family's full scope again. The refresh
// handler's storage calls it (fosite stores the access and refresh token from one request).
func KeepRefreshScope(req fosite.Requester) fosite.Requester {
	sess, ok := req.GetSession().(*session.Session)
	r, rok := req.(*fosite.Request)
	if !ok || !rok || sess.RefreshScope == nil {
		return req
	}
	cp := *r
	cp.GrantedScope = slices.Clone(sess.RefreshScope)
	return &cp
}
