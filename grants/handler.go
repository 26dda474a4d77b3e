package grants

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"

	"github.com/lingpai/lingpai/internal/reqctx"
	"github.com/lingpai/lingpai/internal/session"
	"github.com/lingpai/lingpai/internal/throttle"
)

// Config is the part of fosite's configuration the handler reads.
type Config interface {
	fosite.AccessTokenLifespanProvider
	fosite.RefreshTokenLifespanProvider
	fosite.IDTokenLifespanProvider
	fosite.RefreshTokenScopesProvider
}

// TokenIssuer holds what issuing tokens needs; one is shared by every custom grant.
type TokenIssuer struct {
	AccessTokenStrategy  oauth2.AccessTokenStrategy
	RefreshTokenStrategy oauth2.RefreshTokenStrategy
	Storage              interface {
		oauth2.AccessTokenStorage
		oauth2.RefreshTokenStorage
	}
	IDTokenStrategy openid.OpenIDConnectTokenStrategy
	Config          Config
	// Claims are the scopes' claim sets (standard when nil).
	Claims *ScopeClaims
}

// Handler adapts a Grant to fosite's TokenEndpointHandler.
type Handler struct {
	Grant     Grant
	Issuer    *TokenIssuer
	Regulator *throttle.Regulator
	Logger    *slog.Logger
}

var _ fosite.TokenEndpointHandler = (*Handler)(nil)

var commonSecrets = []string{"password", "code", "sms", "code_verifier", "client_secret"}

// CanSkipClientAuth implements fosite.TokenEndpointHandler: every grant authenticates its client.
func (h *Handler) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool { return false }

// CanHandleTokenEndpointRequest implements fosite.TokenEndpointHandler.
func (h *Handler) CanHandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) bool {
	return ar.GetGrantTypes().ExactOne(h.Grant.Type())
}

// HandleTokenEndpointRequest runs the grant under the brute-force regulator and prepares the
// session. Policy, earlier in the chain, has checked the client and granted scopes and audience.
func (h *Handler) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	req := Request{Form: ar.GetRequestForm(), Client: ar.GetClient(), ClientIP: reqctx.From(ctx).ClientIP}
	account := ""
	if t, ok := h.Grant.(Throttled); ok {
		account = t.AccountKey(req)
	}
	var id Identity
	lockedNow, err := h.Regulator.Attempt(ctx, account, req.ClientIP, func() error {
		var err error
		id, err = h.Grant.Authenticate(ctx, req)
		return err
	}, func(err error) bool { return errors.Is(err, ErrInvalidCredentials) })
	h.scrub(ar)
	switch {
	case errors.Is(err, throttle.ErrLocked):
		h.Logger.WarnContext(ctx, "sign-in refused", "event", "signin.failed", "grant_type", h.Grant.Type(), "reason", "throttled")
		return errorFor(ErrInvalidCredentials)
	case err != nil:
		if lockedNow {
			h.Logger.WarnContext(ctx, "account throttled", "event", "account.throttled", "grant_type", h.Grant.Type())
		}
		h.Logger.InfoContext(ctx, "sign-in failed", "event", "signin.failed", "grant_type", h.Grant.Type(), "reason", err.Error())
		return errorFor(err)
	case id.Subject == "":
		return fosite.ErrServerError.WithDebug("grant returned an empty subject")
	}
	h.Logger.InfoContext(ctx, "sign-in succeeded", "event", "signin.succeeded", "grant_type", h.Grant.Type(), "subject", id.Subject)

	sess, ok := ar.GetSession().(*session.Session)
	if !ok {
		return fosite.ErrServerError.WithDebugf("session type %T", ar.GetSession())
	}
	sets, err := h.Issuer.Claims.Sets(ctx)
	if err != nil {
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	ApplyIdentity(sess, h.Grant.Type(), id, ar.GetGrantedScopes(), sets)
	now := time.Now().UTC()
	sess.SetExpiresAt(fosite.AccessToken, now.Add(h.Issuer.lifespan(ctx, ar, fosite.AccessToken)).Round(time.Second))
	if rt := h.Issuer.lifespan(ctx, ar, fosite.RefreshToken); rt > -1 {
		sess.SetExpiresAt(fosite.RefreshToken, now.Add(rt).Round(time.Second))
	}
	return nil
}

// lifespan is the client's own lifetime for a token type (an imported IS4 client's
// AccessTokenLifetime, say) or the server's: fosite applies per-client lifetimes only in its
// built-in grants, so the custom ones ask here.
func (t *TokenIssuer) lifespan(ctx context.Context, ar fosite.AccessRequester, tt fosite.TokenType) time.Duration {
	var fallback time.Duration
	switch tt {
	case fosite.AccessToken:
		fallback = t.Config.GetAccessTokenLifespan(ctx)
	case fosite.RefreshToken:
		fallback = t.Config.GetRefreshTokenLifespan(ctx)
	case fosite.IDToken:
		fallback = t.Config.GetIDTokenLifespan(ctx)
	}
	var gt fosite.GrantType
	if g := ar.GetGrantTypes(); len(g) == 1 {
		gt = fosite.GrantType(g[0])
	}
	return fosite.GetEffectiveLifespan(ar.GetClient(), gt, tt, fallback)
}

func (h *Handler) scrub(ar fosite.AccessRequester) {
	form := ar.GetRequestForm()
	for _, p := range commonSecrets {
		delete(form, p)
	}
	if sp, ok := h.Grant.(SecretParams); ok {
		for _, p := range sp.SecretParams() {
			delete(form, p)
		}
	}
}

// ApplyIdentity writes an identity into the session: subject, the claims the granted scopes
// release (sets.Release) for both tokens, amr. Policy has granted the scopes by then.
func ApplyIdentity(sess *session.Session, grantType string, id Identity, granted fosite.Arguments, sets ClaimSets) {
	sess.SetSubject(id.Subject)
	sess.GrantType, sess.IdentityRef = grantType, id.Ref
	claims := sess.IDTokenClaims()
	if claims.Extra == nil {
		claims.Extra = map[string]interface{}{}
	}
	for k, v := range sets.Release(id.Claims, granted) {
		claims.Extra[k] = v
		sess.JWTClaims.Extra[k] = v
	}
	claims.AuthenticationMethodsReferences = id.AMR
	if len(id.AMR) > 0 {
		sess.JWTClaims.Extra["amr"] = id.AMR // RFC 9068 section 2.2.3: resource servers may check it too
	}
	claims.AuthTime = time.Now().UTC()
	if name, ok := id.Claims["preferred_username"].(string); ok {
		sess.Username = name // introspection's username
	}
}

// PopulateTokenEndpointResponse issues the access token, a refresh token when offline_access was
// granted, and an id_token when openid was granted.
func (h *Handler) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	return h.Issuer.Issue(ctx, ar, resp)
}

// Issue writes access, refresh and id tokens for ar into resp, storing them through fosite storage.
func (t *TokenIssuer) Issue(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	helper := &oauth2.HandleHelper{AccessTokenStrategy: t.AccessTokenStrategy, AccessTokenStorage: t.Storage, Config: t.Config}
	atSig, err := helper.IssueAccessToken(ctx, t.lifespan(ctx, ar, fosite.AccessToken), ar, resp)
	if err != nil {
		return err
	}
	rtScopes := t.Config.GetRefreshTokenScopes(ctx)
	if len(rtScopes) == 0 || ar.GetGrantedScopes().HasOneOf(rtScopes...) {
		rt, rtSig, err := t.RefreshTokenStrategy.GenerateRefreshToken(ctx, ar)
		if err != nil {
			return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
		}
		if err := t.Storage.CreateRefreshTokenSession(ctx, rtSig, atSig, ar.Sanitize([]string{})); err != nil {
			return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
		}
		resp.SetExtra("refresh_token", rt)
	}
	return t.IssueIDToken(ctx, ar, resp)
}

// IssueIDToken adds an id_token when openid was granted and the session has a user.
func (t *TokenIssuer) IssueIDToken(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !ar.GetGrantedScopes().Has("openid") {
		return nil
	}
	sess, ok := ar.GetSession().(*session.Session)
	if !ok || sess.GetSubject() == "" {
		return nil
	}
	helper := &openid.IDTokenHandleHelper{IDTokenStrategy: t.IDTokenStrategy}
	claims := sess.IDTokenClaims()
	claims.AccessTokenHash = helper.GetAccessTokenHash(ctx, ar, resp)
	if claims.AuthTime.IsZero() {
		claims.AuthTime = time.Now().UTC()
	}
	return helper.IssueExplicitIDToken(ctx, t.lifespan(ctx, ar, fosite.IDToken), ar, resp)
}
