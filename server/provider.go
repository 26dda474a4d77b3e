package server

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	"github.com/ory/fosite/token/hmac"
	fositejwt "github.com/ory/fosite/token/jwt"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/grants"
	"github.com/lingpai/lingpai/grants/clientclaims"
	"github.com/lingpai/lingpai/grants/is4refresh"
	"github.com/lingpai/lingpai/grants/password"
	"github.com/lingpai/lingpai/internal/clientauth"
	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/internal/is4jwt"
	"github.com/lingpai/lingpai/internal/jwtaccess"
	"github.com/lingpai/lingpai/internal/keys"
	"github.com/lingpai/lingpai/internal/ops/metrics"
	"github.com/lingpai/lingpai/internal/throttle"
	"github.com/lingpai/lingpai/internal/web/pages"
	"github.com/lingpai/lingpai/storage"
)

// parts are the components the provider, the grants and the routes share.
type parts struct {
	cfg       *config.Config
	store     *storage.Store
	logger    *slog.Logger
	issuer    string
	now       func() time.Time
	keyring   *keys.Keyring
	hasher    hashing.Hasher
	clientSec *clientauth.Verifier // fosite's ClientSecretsHasher: cache of successes + throttle
	renderer  *pages.Renderer
	regulator *throttle.Regulator
	accounts  *accounts.Service
	metrics   *metrics.Metrics
	claimSets *grants.ScopeClaims // the standard scopes' claims and the stored (imported) sets
}

func (b *builder) parts(ctx context.Context, cfg *config.Config, store *storage.Store, logger *slog.Logger) (*parts, error) {
	d := &parts{cfg: cfg, store: store, logger: logger, issuer: strings.TrimRight(cfg.Server.Issuer, "/"), now: b.now}
	d.claimSets = &grants.ScopeClaims{Load: storedClaimSets(store), TTL: cfg.Server.CacheTTL}
	// One limiter for every slow hash of the process (client secrets, passwords, new hashes).
	d.hasher = hashing.Hasher{Limit: hashing.NewLimiter(cfg.Security.MaxConcurrentHashes, cfg.Security.HashQueueWait)}
	overlap := max(cfg.Tokens.AccessTokenLifetime, cfg.Tokens.IDTokenLifetime) + time.Minute
	var err error
	if d.keyring, err = keys.New(ctx, store, keys.Options{Algorithm: cfg.Tokens.SigningAlgorithm, CacheTTL: cfg.Server.CacheTTL, Overlap: overlap}); err != nil {
		return nil, fmt.Errorf("server: signing keys: %w", err)
	}
	if d.renderer, err = pages.New(pages.Brand{ProductName: cfg.UI.ProductName, LogoURL: cfg.UI.LogoURL}); err != nil {
		return nil, err
	}
	d.regulator = throttle.New(store, throttle.Options{
		MaxFailures: cfg.Throttle.MaxFailures, IPMaxFailures: cfg.Throttle.IPMaxFailures,
		Window: cfg.Throttle.Window, Lockout: cfg.Throttle.Lockout,
	}, b.now)
	if d.clientSec, err = clientauth.New(clientauth.Options{Hasher: d.hasher, Regulator: d.regulator, Logger: logger, TTL: cfg.Server.CacheTTL, Now: b.now}); err != nil {
		return nil, err
	}
	store.OnClientChange(d.clientSec.Forget)
	if d.accounts, err = accounts.New(store, d.hasher, d.regulator, logger); err != nil {
		return nil, err
	}
	sqlDB, err := store.SQLDB()
	if err != nil {
		return nil, err
	}
	d.metrics = metrics.New(sqlDB)
	d.metrics.WatchTxRetries(store)
	return d, nil
}

// fositeConfig is fosite's configuration from lingpai's.
func (d *parts) fositeConfig(ctx context.Context) (*fosite.Config, error) {
	cfg := d.cfg
	secret := []byte(cfg.Tokens.Secret)
	if len(secret) == 0 {
		var err error
		if secret, err = d.store.Secret(ctx, "hmac-global", 32); err != nil {
			return nil, fmt.Errorf("server: token secret: %w", err)
		}
	}
	return &fosite.Config{
		AccessTokenLifespan:            cfg.Tokens.AccessTokenLifetime,
		RefreshTokenLifespan:           cfg.Tokens.RefreshTokenLifetime,
		AuthorizeCodeLifespan:          cfg.Tokens.AuthCodeLifetime,
		IDTokenLifespan:                cfg.Tokens.IDTokenLifetime,
		IDTokenIssuer:                  d.issuer,
		AccessTokenIssuer:              d.issuer,
		TokenURL:                       d.issuer + "/connect/token",
		GlobalSecret:                   secret,
		ScopeStrategy:                  fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:       fosite.DefaultAudienceMatchingStrategy,
		RefreshTokenScopes:             []string{"offline_access", "offline"},
		JWTScopeClaimKey:               fositejwt.JWTScopeFieldString,
		ClientSecretsHasher:            d.clientSec,
		SendDebugMessagesToClients:     false,
		EnforcePKCEForPublicClients:    true,
		EnablePKCEPlainChallengeMethod: false,
		TokenEntropy:                   32,
		// No minimum length for nonce: no specification sets one (fosite reads 0 as its default
		// of 8). state has its own default of 8 in fosite, which handlers.Authorize overrides.
		MinParameterEntropy: -1,
		// response_mode=form_post: our page (branding, a <noscript> button), not fosite's bare one.
		FormPostHTMLTemplate: d.renderer.FormPost(),
	}, nil
}

// step is one row of the handler table: a fosite handler and the grant type it serves. Rows of
// grant types that grants.enabled leaves out are dropped; a row with grant "" always stays.
type step struct {
	grant     string
	token     fosite.TokenEndpointHandler
	authorize fosite.AuthorizeEndpointHandler
}

// newProvider builds fosite with lingpai's handler table.
func newProvider(ctx context.Context, d *parts, custom []grants.Grant) (*fosite.Fosite, error) {
	fc, err := d.fositeConfig(ctx)
	if err != nil {
		return nil, err
	}
	hmacStrategy := oauth2.NewHMACSHAStrategy(&hmac.HMACStrategy{Config: fc}, fc)
	var core oauth2.CoreStrategy = hmacStrategy
	if d.cfg.Tokens.Format == "jwt" {
		// Introspection checks a stored JWT with the keyring's VerifyJWT: read once, alg pinned.
		core = &jwtaccess.Strategy{
			DefaultJWTStrategy: &oauth2.DefaultJWTStrategy{Signer: d.keyring.Signer(), HMACSHAStrategy: hmacStrategy, Config: fc},
			Verifier:           d.keyring,
		}
	}
	// id_tokens: RS256 unless the client registered id_token_signed_response_alg (OIDC Core 15.1).
	idStrategy := &openid.DefaultStrategy{Signer: d.keyring.IDTokenSigner(func(ctx context.Context, clientID string) string {
		if c, err := d.store.Client(ctx, clientID); err == nil && c.GetIDTokenSignedResponseAlg() != "" {
			return c.GetIDTokenSignedResponseAlg()
		}
		return keys.IDTokenAlgorithm
	}), Config: fc}
	unstored := !d.cfg.Tokens.StoreAccessTokens
	issuer := &grants.TokenIssuer{AccessTokenStrategy: core, RefreshTokenStrategy: core, Storage: d.store, IDTokenStrategy: idStrategy, Config: fc, Claims: d.claimSets}
	store := d.store

	code := &oauth2.AuthorizeExplicitGrantHandler{
		AccessTokenStrategy: core, RefreshTokenStrategy: core, AuthorizeCodeStrategy: core,
		CoreStorage: store, TokenRevocationStorage: store, Config: fc,
	}
	passwordOpenID, passwordHandlers := password.Handlers(core, store, d.accounts, issuer, fc)
	// Browser sign-ins are local accounts too: refresh stops when the user is disabled.
	recheckers := map[string]grants.Rechecker{"password": passwordOpenID, "authorization_code": passwordOpenID}
	var customSteps []step
	for _, g := range custom {
		customSteps = append(customSteps, step{grant: g.Type(), token: &grants.Handler{Grant: g, Issuer: issuer, Regulator: d.regulator, Logger: d.logger}})
		if rc, ok := g.(grants.Rechecker); ok {
			recheckers[g.Type()] = rc
		}
	}
	oidcCode := &openid.OpenIDConnectExplicitHandler{
		OpenIDConnectRequestStorage:   store,
		IDTokenHandleHelper:           &openid.IDTokenHandleHelper{IDTokenStrategy: idStrategy},
		OpenIDConnectRequestValidator: openid.NewOpenIDConnectRequestValidator(d.keyring.Signer(), fc),
		Config:                        fc,
	}
	pkceHandler := &pkce.Handler{AuthorizeCodeStrategy: core, Storage: store, Config: fc}

	// The handler table. fosite runs every handler that accepts a request, in this order, first
	// HandleTokenEndpointRequest of each, then PopulateTokenEndpointResponse of each.
	table := []step{
		// The rules every grant shares (client registered for the grant, scope defaulting and
		// checks, audience): first, so no grant authenticates anyone for a request they refuse.
		{grant: "", token: &grants.Policy{GrantTypes: d.cfg.Grants.Enabled, Config: fc, UnstoredAccessTokens: unstored}},
		// fosite's grants.
		{grant: "authorization_code", token: code, authorize: code},
		{grant: "client_credentials", token: &oauth2.ClientCredentialsGrantHandler{
			HandleHelper: &oauth2.HandleHelper{AccessTokenStrategy: core, AccessTokenStorage: store, Config: fc}, Config: fc,
		}},
		// fosite's refresh handler, wrapped so that a refresh token imported from IdentityServer4
		// (a 64-hex handle) is redeemed once for lingpai tokens; every other token goes to fosite.
		// Its response step is grants.Refresh's: the rotation in one storage call, no transaction.
		{grant: "refresh_token", token: is4refresh.Wrap(&grants.Refresh{RefreshTokenGrantHandler: &oauth2.RefreshTokenGrantHandler{
			AccessTokenStrategy: core, RefreshTokenStrategy: core, TokenRevocationStorage: refreshStore{store}, Config: fc,
		}, Rotator: refreshStore{store}}, is4refresh.Options{Store: store, Issuer: issuer, Accounts: d.accounts, Now: d.now, Logger: d.logger})},
		// Right after fosite's refresh handler, which restored the family's scopes: a scope sent
		// with the refresh narrows them (RFC 6749 section 6).
		{grant: "refresh_token", token: grants.RefreshScope{}},
		// After fosite's refresh handler, which has loaded the family's session: asks the grant
		// that started the family whether the account may still get tokens.
		{grant: "refresh_token", token: &grants.RefreshGuard{Recheckers: recheckers, Revoker: store, Logger: d.logger}},
		// The seed's password grant: fosite's handler, then its OpenID companion (in this order).
		{grant: "password", token: passwordHandlers[0]},
		{grant: "password", token: passwordHandlers[1]},
	}
	// lingpai's own grants (password_ad, sms, wechat) and those registered with WithGrant.
	table = append(table, customSteps...)
	table = append(table,
		// OpenID Connect after the grants whose sessions they read: id_tokens for codes and refreshes.
		step{grant: "authorization_code", token: oidcCode, authorize: oidcCode},
		step{grant: "refresh_token", token: &openid.OpenIDConnectRefreshHandler{
			IDTokenHandleHelper: &openid.IDTokenHandleHelper{IDTokenStrategy: idStrategy}, Config: fc,
		}},
		// PKCE after the code handler in both lists: it stores the challenge under the code's
		// signature, which the code handler creates.
		step{grant: "authorization_code", token: pkceHandler, authorize: pkceHandler},
		// Last: an imported client's own claims (IdentityServer4's Claims with their prefix) into
		// its access tokens, once every grant has set the session; never over registered claims.
		step{grant: "", token: clientclaims.Handler{}},
	)
	for _, s := range table {
		if s.grant != "" && !d.cfg.GrantEnabled(s.grant) {
			continue
		}
		token := s.token
		if s.grant != "" {
			token = populateOwn{token}
		}
		fc.TokenEndpointHandlers = append(fc.TokenEndpointHandlers, token)
		if s.authorize != nil {
			fc.AuthorizeEndpointHandlers = append(fc.AuthorizeEndpointHandlers, s.authorize)
		}
	}
	// Grants with a Rechecker are those whose subject is a lingpai account: their tokens die with it.
	userGrants := map[string]bool{}
	for gt := range recheckers {
		userGrants[gt] = true
	}
	// Introspection: lingpai's tokens, then JWTs that an imported IdentityServer4 key signed; then
	// the account behind a user's token must still be allowed (after the validators, whose
	// session it reads).
	validator := is4jwt.Wrap(&oauth2.CoreValidator{CoreStrategy: core, CoreStorage: store, Config: fc},
		is4jwt.Options{Signer: d.keyring.Signer(), Store: store, Now: d.now})
	var revoker fosite.RevocationHandler = &oauth2.TokenRevocationHandler{
		TokenRevocationStorage: store, AccessTokenStrategy: core, RefreshTokenStrategy: core,
	}
	if unstored {
		// Access tokens without a row: checked and revoked by signature and the revocation list.
		o := jwtaccess.Options{Verifier: d.keyring, Store: store, Now: d.now}
		validator, revoker = jwtaccess.Introspector(validator, o), jwtaccess.Revoker(revoker, o)
	}
	fc.TokenIntrospectionHandlers = fosite.TokenIntrospectionHandlers{
		validator,
		&grants.ActiveSubject{Accounts: d.accounts, GrantTypes: userGrants},
	}
	fc.RevocationHandlers = fosite.RevocationHandlers{revoker}
	return fosite.NewOAuth2Provider(clientLookup{store}, fc), nil
}

// populateOwn asks a grant's handler to populate only the responses of requests it handles.
// fosite calls every handler's PopulateTokenEndpointResponse, and its own answer the others with
// errorsx.WithStack(ErrUnknownRequest), a stack trace captured per handler per token request.
type populateOwn struct{ fosite.TokenEndpointHandler }

func (p populateOwn) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !p.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	return p.TokenEndpointHandler.PopulateTokenEndpointResponse(ctx, ar, resp)
}

// clientLookup is fosite's client store: it notes which client a request authenticates, because
// fosite then checks the secret with the stored hash alone and clientauth needs the client id
// (for the throttle's per-client counters and the cache key).
type clientLookup struct{ *storage.Store }

func (c clientLookup) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	cl, err := c.Store.GetClient(ctx, id)
	if err == nil {
		clientauth.NoteClient(ctx, id)
	}
	return cl, err
}

// refreshStore is the refresh handler's storage: the new refresh token keeps the family's full
// scope when the refresh narrowed the access token's (grants.KeepRefreshScope). Embedding the
// store keeps its transactions, which fosite finds by type assertion.
type refreshStore struct{ *storage.Store }

// RotateRefresh is grants.Refresh's storage step.
func (s refreshStore) RotateRefresh(ctx context.Context, r grants.Rotation) error {
	return s.Store.RotateRefresh(ctx, storage.Rotation(r))
}

func (s refreshStore) CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, req fosite.Requester) error {
	return s.Store.CreateRefreshTokenSession(ctx, signature, accessSignature, grants.KeepRefreshScope(req))
}

// storedClaimSets reads the stored claim sets (imported identity resources); a disabled set's
// claims go under the empty scope, which is never granted (grants.ClaimSets).
func storedClaimSets(store *storage.Store) func(context.Context) (map[string][]string, error) {
	return func(ctx context.Context) (map[string][]string, error) {
		list, err := store.ClaimSets(ctx)
		if err != nil {
			return nil, err
		}
		out := map[string][]string{}
		for _, cs := range list {
			if cs.Enabled {
				out[cs.Scope] = cs.Claims
			} else {
				out[""] = append(out[""], cs.Claims...)
			}
		}
		return out, nil
	}
}
