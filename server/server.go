// Package server is lingpai's composition root: it builds the fosite provider from configuration,
// storage and the enabled grants, and returns the http.Handler. It is the only package that knows
// every other one.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	"github.com/ory/fosite/token/hmac"
	fositejwt "github.com/ory/fosite/token/jwt"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/grants"
	"github.com/lingpai/lingpai/grants/passwordad"
	"github.com/lingpai/lingpai/handlers"
	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/internal/keys"
	"github.com/lingpai/lingpai/internal/ops/metrics"
	"github.com/lingpai/lingpai/internal/throttle"
	"github.com/lingpai/lingpai/internal/web/pages"
	"github.com/lingpai/lingpai/storage"
)

// Option adds to a server being built: a custom grant, an extra route.
type Option func(*builder)

// WithGrant registers a custom grant. It is served when its type is listed in grants.enabled.
func WithGrant(g grants.Grant) Option {
	return func(b *builder) { b.custom = append(b.custom, g) }
}

// WithClock replaces the clock of the throttling regulator (tests).
func WithClock(now func() time.Time) Option {
	return func(b *builder) { b.now = now }
}

// WithRoute mounts an extra handler (serve --demo's callback page).
func WithRoute(path string, h http.Handler) Option {
	return func(b *builder) { b.routes = append(b.routes, route{path, h}) }
}

type route struct {
	path string
	h    http.Handler
}

type builder struct {
	custom []grants.Grant
	now    func() time.Time
	routes []route
}

// App is a built server.
type App struct {
	Handler  http.Handler
	Store    *storage.Store
	Keyring  *keys.Keyring
	Accounts *accounts.Service
	Provider fosite.OAuth2Provider
	Config   *config.Config
	Metrics  *metrics.Metrics
	// AdminHandler serves /metrics, /healthz and /readyz on server.admin_addr; nil when that key
	// is empty (then /metrics is on Handler).
	AdminHandler http.Handler
}

// New builds the server on an open, migrated store.
func New(ctx context.Context, cfg *config.Config, store *storage.Store, logger *slog.Logger, opts ...Option) (*App, error) {
	b := &builder{now: time.Now}
	for _, o := range opts {
		o(b)
	}
	known := append(append([]string(nil), config.StandardGrants...), builtinTypes...)
	for _, g := range b.custom {
		known = append(known, g.Type())
	}
	for _, g := range cfg.Grants.Enabled {
		if !slices.Contains(known, g) {
			return nil, fmt.Errorf("config: grants.enabled: unknown grant type %q (known: %s)", g, strings.Join(known, ", "))
		}
	}

	issuer := strings.TrimRight(cfg.Server.Issuer, "/")
	secret := []byte(cfg.Tokens.Secret)
	if len(secret) == 0 {
		var err error
		if secret, err = store.Secret(ctx, "hmac-global", 32); err != nil {
			return nil, fmt.Errorf("server: token secret: %w", err)
		}
	}
	overlap := max(cfg.Tokens.AccessTokenLifetime, cfg.Tokens.IDTokenLifetime) + time.Minute
	keyring, err := keys.New(ctx, store, keys.Options{Algorithm: cfg.Tokens.SigningAlgorithm, CacheTTL: cfg.Server.CacheTTL, Overlap: overlap})
	if err != nil {
		return nil, fmt.Errorf("server: signing keys: %w", err)
	}

	hasher := hashing.Hasher{}
	renderer, err := pages.New(pages.Brand{ProductName: cfg.UI.ProductName, LogoURL: cfg.UI.LogoURL})
	if err != nil {
		return nil, err
	}
	fc := &fosite.Config{
		AccessTokenLifespan:            cfg.Tokens.AccessTokenLifetime,
		RefreshTokenLifespan:           cfg.Tokens.RefreshTokenLifetime,
		AuthorizeCodeLifespan:          cfg.Tokens.AuthCodeLifetime,
		IDTokenLifespan:                cfg.Tokens.IDTokenLifetime,
		IDTokenIssuer:                  issuer,
		AccessTokenIssuer:              issuer,
		TokenURL:                       issuer + "/connect/token",
		GlobalSecret:                   secret,
		ScopeStrategy:                  fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:       fosite.DefaultAudienceMatchingStrategy,
		RefreshTokenScopes:             []string{"offline_access", "offline"},
		JWTScopeClaimKey:               fositejwt.JWTScopeFieldString,
		ClientSecretsHasher:            hasher,
		SendDebugMessagesToClients:     false,
		EnforcePKCEForPublicClients:    true,
		EnablePKCEPlainChallengeMethod: false,
		TokenEntropy:                   32,
		MinParameterEntropy:            8,
		// response_mode=form_post: our page (branding, a <noscript> button), not fosite's bare one.
		FormPostHTMLTemplate: renderer.FormPost(),
	}
	hmacStrategy := oauth2.NewHMACSHAStrategy(&hmac.HMACStrategy{Config: fc}, fc)
	var core oauth2.CoreStrategy = hmacStrategy
	if cfg.Tokens.Format == "jwt" {
		core = &oauth2.DefaultJWTStrategy{Signer: keyring.Signer(), HMACSHAStrategy: hmacStrategy, Config: fc}
	}
	idStrategy := &openid.DefaultStrategy{Signer: keyring.Signer(), Config: fc}

	regulator := throttle.New(store, throttle.Options{
		MaxFailures: cfg.Throttle.MaxFailures, IPMaxFailures: cfg.Throttle.IPMaxFailures,
		Window: cfg.Throttle.Window, Lockout: cfg.Throttle.Lockout,
	}, b.now)
	accts, err := accounts.New(store, hasher, regulator, logger)
	if err != nil {
		return nil, err
	}
	sqlDB, err := store.SQLDB()
	if err != nil {
		return nil, err
	}
	met := metrics.New(sqlDB)
	built, err := b.builtinGrants(ctx, cfg, store, accts, met, logger)
	if err != nil {
		return nil, err
	}
	b.custom = append(built.grants, b.custom...)
	issuerHelper := &grants.TokenIssuer{
		AccessTokenStrategy: core, RefreshTokenStrategy: core, Storage: store, IDTokenStrategy: idStrategy, Config: fc,
	}

	enabled := func(g string) bool { return cfg.GrantEnabled(g) }
	var token []fosite.TokenEndpointHandler
	var authorize fosite.AuthorizeEndpointHandlers
	if enabled("authorization_code") {
		code := &oauth2.AuthorizeExplicitGrantHandler{
			AccessTokenStrategy: core, RefreshTokenStrategy: core, AuthorizeCodeStrategy: core,
			CoreStorage: store, TokenRevocationStorage: store, Config: fc,
		}
		token = append(token, code)
		authorize = append(authorize, code)
	}
	if enabled("client_credentials") {
		token = append(token, &oauth2.ClientCredentialsGrantHandler{
			HandleHelper: &oauth2.HandleHelper{AccessTokenStrategy: core, AccessTokenStorage: store, Config: fc}, Config: fc,
		})
	}
	passwordCompanion := &grants.PasswordOpenID{Issuer: issuerHelper, Accounts: accts}
	// Browser sign-ins are local accounts too: refresh stops when the user is disabled.
	recheckers := map[string]grants.Rechecker{"password": passwordCompanion, "authorization_code": passwordCompanion}
	if enabled("refresh_token") {
		token = append(token, &oauth2.RefreshTokenGrantHandler{
			AccessTokenStrategy: core, RefreshTokenStrategy: core, TokenRevocationStorage: store, Config: fc,
		}, &grants.RefreshGuard{Recheckers: recheckers, Revoker: store, Logger: logger})
	}
	if enabled("password") {
		token = append(token, &oauth2.ResourceOwnerPasswordCredentialsGrantHandler{
			ResourceOwnerPasswordCredentialsGrantStorage: ropcStorage{store, accts},
			HandleHelper:         &oauth2.HandleHelper{AccessTokenStrategy: core, AccessTokenStorage: store, Config: fc},
			RefreshTokenStrategy: core, Config: fc,
		}, passwordCompanion)
	}
	for _, g := range b.custom {
		if !enabled(g.Type()) {
			continue
		}
		token = append(token, &grants.Handler{Grant: g, Issuer: issuerHelper, Regulator: regulator, Logger: logger})
		if rc, ok := g.(grants.Rechecker); ok {
			recheckers[g.Type()] = rc
		}
	}
	if enabled("authorization_code") {
		oidc := &openid.OpenIDConnectExplicitHandler{
			OpenIDConnectRequestStorage:   store,
			IDTokenHandleHelper:           &openid.IDTokenHandleHelper{IDTokenStrategy: idStrategy},
			OpenIDConnectRequestValidator: openid.NewOpenIDConnectRequestValidator(keyring.Signer(), fc),
			Config:                        fc,
		}
		token = append(token, oidc)
		authorize = append(authorize, oidc)
	}
	if enabled("refresh_token") {
		token = append(token, &openid.OpenIDConnectRefreshHandler{
			IDTokenHandleHelper: &openid.IDTokenHandleHelper{IDTokenStrategy: idStrategy}, Config: fc,
		})
	}
	if enabled("authorization_code") {
		// After the code handler in both lists: it stores the challenge under the code's signature.
		p := &pkce.Handler{AuthorizeCodeStrategy: core, Storage: store, Config: fc}
		token = append(token, p)
		authorize = append(authorize, p)
	}
	fc.TokenEndpointHandlers = token
	fc.AuthorizeEndpointHandlers = authorize
	fc.TokenIntrospectionHandlers = fosite.TokenIntrospectionHandlers{&oauth2.CoreValidator{CoreStrategy: core, CoreStorage: store, Config: fc}}
	fc.RevocationHandlers = fosite.RevocationHandlers{&oauth2.TokenRevocationHandler{
		TokenRevocationStorage: store, AccessTokenStrategy: core, RefreshTokenStrategy: core,
	}}
	provider := fosite.NewOAuth2Provider(store, fc)

	healthy := func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		return store.Ping(ctx)
	}
	enabledSet := map[string]bool{}
	for _, g := range cfg.Grants.Enabled {
		enabledSet[g] = true
	}
	r := mux.NewRouter()
	r.Use(met.Middleware)
	r.Handle("/connect/token", &handlers.Token{Provider: provider, Enabled: enabledSet, Logger: logger, Healthy: healthy, Metrics: met})
	r.Handle("/connect/introspect", &handlers.Introspect{Provider: provider, Healthy: healthy}).Methods(http.MethodPost)
	r.Handle("/connect/revocation", &handlers.Revoke{Provider: provider, Logger: logger, Healthy: healthy}).Methods(http.MethodPost)
	authenticate := accts.Authenticate
	if built.directory != nil {
		authenticate = directoryLogin(store, accts, &passwordad.Grant{Directory: built.directory, Accounts: accts, Logger: logger, PhoneRegion: phoneRegion(cfg)}, regulator)
	}
	web, err := b.web(ctx, cfg, store, provider, renderer, authenticate, accts.Claims, keyring, logger)
	if err != nil {
		return nil, err
	}
	r.HandleFunc("/connect/userinfo", web.UserInfo).Methods(http.MethodGet, http.MethodPost)
	if enabled("authorization_code") {
		r.HandleFunc("/connect/authorize", web.Authorize).Methods(http.MethodGet, http.MethodPost)
		r.HandleFunc("/account/login", web.Login).Methods(http.MethodGet, http.MethodPost)
		r.HandleFunc("/account/consent", web.Consent).Methods(http.MethodGet, http.MethodPost)
		r.HandleFunc("/connect/endsession", web.EndSession).Methods(http.MethodGet, http.MethodPost)
	}
	if built.sms != nil {
		r.Handle("/connect/sms/code", &handlers.SMSCode{
			Authenticate: func(ctx context.Context, r *http.Request) (fosite.Client, error) {
				return provider.AuthenticateClient(ctx, r, r.PostForm)
			},
			Codes: built.sms.codes, Normalize: built.sms.normalize, Logger: logger,
			Deliver: func(ctx context.Context, phone string) (bool, error) {
				if built.sms.autoRegister {
					return true, nil
				}
				_, err := store.UserByPhone(ctx, phone)
				if errors.Is(err, fosite.ErrNotFound) {
					return false, nil
				}
				return err == nil, err
			},
		}).Methods(http.MethodPost)
	}
	for _, rt := range b.routes {
		r.Handle(rt.path, rt.h)
	}
	r.Handle("/.well-known/openid-configuration", &handlers.Discovery{Document: discovery(cfg, issuer)}).Methods(http.MethodGet)
	r.Handle("/.well-known/openid-configuration/jwks", &handlers.JWKS{Keys: keyring.PublicKeys, MaxAge: cfg.Server.CacheTTL}).Methods(http.MethodGet)
	ready := &handlers.Ready{Checks: map[string]func(context.Context) error{
		"database": healthy,
		"signing_key": func(ctx context.Context) error {
			_, err := keyring.Active(ctx)
			return err
		},
	}}
	r.HandleFunc("/healthz", handlers.Health).Methods(http.MethodGet)
	r.Handle("/readyz", ready).Methods(http.MethodGet)
	var admin http.Handler
	if cfg.Server.AdminAddr == "" {
		r.Handle("/metrics", met.Handler()).Methods(http.MethodGet)
	} else {
		admin = adminRouter(met, ready)
	}
	r.NotFoundHandler = met.Instrument(metrics.Unmatched, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		handlers.WriteError(w, http.StatusNotFound, "not_found", "")
	}))
	r.MethodNotAllowedHandler = met.Instrument(metrics.Unmatched, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		handlers.WriteError(w, http.StatusMethodNotAllowed, "invalid_request", "Method not allowed.")
	}))

	proxies, err := parseProxies(cfg.Server.TrustedProxies)
	if err != nil {
		return nil, err
	}
	mw := &handlers.Middleware{Logger: logger, MaxBodyBytes: cfg.Server.MaxBodyBytes, TrustedProxies: proxies}
	return &App{Handler: mw.Wrap(r), Store: store, Keyring: keyring, Accounts: accts, Provider: provider, Config: cfg,
		Metrics: met, AdminHandler: admin}, nil
}

// ropcStorage is fosite's password-grant storage: tokens from the store, Authenticate from accounts.
type ropcStorage struct {
	*storage.Store
	accts *accounts.Service
}

func (s ropcStorage) Authenticate(ctx context.Context, name, secret string) (string, error) {
	return s.accts.Authenticate(ctx, name, secret)
}

func parseProxies(list []string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, p := range list {
		if !strings.Contains(p, "/") {
			if strings.Contains(p, ":") {
				p += "/128"
			} else {
				p += "/32"
			}
		}
		_, n, err := net.ParseCIDR(p)
		if err != nil {
			return nil, errors.New("config: server.trusted_proxies: " + err.Error())
		}
		out = append(out, n)
	}
	return out, nil
}

func discovery(cfg *config.Config, issuer string) map[string]any {
	doc := map[string]any{
		"issuer":                                issuer,
		"token_endpoint":                        issuer + "/connect/token",
		"jwks_uri":                              issuer + "/.well-known/openid-configuration/jwks",
		"introspection_endpoint":                issuer + "/connect/introspect",
		"revocation_endpoint":                   issuer + "/connect/revocation",
		"grant_types_supported":                 cfg.Grants.Enabled,
		"scopes_supported":                      []string{"openid", "profile", "email", "phone", "offline_access"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "none"}, // none: public clients
		"introspection_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"revocation_endpoint_auth_methods_supported":    []string{"client_secret_basic", "client_secret_post"},
		"response_types_supported":                      []string{"code"},
		"subject_types_supported":                       []string{"public"},
		"id_token_signing_alg_values_supported":         []string{cfg.Tokens.SigningAlgorithm},
		"claims_supported": []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "sid", "at_hash",
			"preferred_username", "name", "email", "email_verified", "phone_number", "phone_number_verified", "groups"},
	}
	doc["userinfo_endpoint"] = issuer + "/connect/userinfo"
	if cfg.GrantEnabled("authorization_code") {
		doc["authorization_endpoint"] = issuer + "/connect/authorize"
		doc["end_session_endpoint"] = issuer + "/connect/endsession"
		doc["response_modes_supported"] = []string{"query", "form_post"}
		doc["prompt_values_supported"] = []string{"none", "login", "consent"}
		doc["ui_locales_supported"] = []string{"zh-CN", "en"}
		doc["claims_parameter_supported"] = false
		doc["code_challenge_methods_supported"] = []string{"S256"}
	}
	return doc
}
