package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/handlers"
	"github.com/lingpai/lingpai/internal/adminapi"
	"github.com/lingpai/lingpai/internal/clientauth"
	"github.com/lingpai/lingpai/internal/keys"
	"github.com/lingpai/lingpai/internal/manage"
	"github.com/lingpai/lingpai/internal/ops/metrics"
	"github.com/lingpai/lingpai/storage"
)

// router mounts every endpoint; the second handler is the admin listener's (nil when
// server.admin_addr is empty: then nothing serves /metrics).
func (b *builder) router(ctx context.Context, d *parts, provider *fosite.Fosite, built builtins) (http.Handler, http.Handler, error) {
	cfg, logger, met := d.cfg, d.logger, d.metrics
	healthy := dbHealthy(d)
	enabled := map[string]bool{}
	for _, g := range cfg.Grants.Enabled {
		enabled[g] = true
	}
	r := mux.NewRouter()
	r.Use(met.Middleware)
	// CORS for browser apps: origins some client lists in allowed_cors_origins; public documents
	// (discovery, JWKS) for any origin. OPTIONS is the preflight, answered by the wrapper.
	cors := func(h http.Handler, methods ...string) http.Handler {
		return (&handlers.CORS{Allowed: d.store.CORSOriginAllowed, Methods: methods, Logger: logger}).Wrap(h)
	}
	publicCORS := func(h http.Handler) http.Handler {
		return (&handlers.CORS{Methods: []string{http.MethodGet}, Logger: logger}).Wrap(h)
	}
	// A storage failure that a client may retry (an outage, or a conflict that outlived the
	// retries) is 503 temporarily_unavailable on every route.
	unavailable := storage.IsTransient
	r.Use(clientauth.Middleware) // carries the authenticated client's id to the secret check
	r.Handle("/connect/token", cors(&handlers.Token{Provider: provider, Enabled: enabled, Logger: logger, Healthy: healthy, Metrics: met, Unavailable: unavailable,
		Reused: func(err error) bool { return errors.Is(err, storage.ErrTokenReused) },
		Spent:  codeSpent}, http.MethodPost))
	r.Handle("/connect/introspect", cors(&handlers.Introspect{Provider: provider, Healthy: healthy, Unavailable: unavailable, Issuer: d.issuer, Client: d.store.GetClient}, http.MethodPost)).Methods(http.MethodPost, http.MethodOptions)
	r.Handle("/connect/revocation", cors(&handlers.Revoke{Provider: provider, Logger: logger, Healthy: healthy, Unavailable: unavailable}, http.MethodPost)).Methods(http.MethodPost, http.MethodOptions)
	web, err := b.web(ctx, d, provider, built)
	if err != nil {
		return nil, nil, err
	}
	r.Handle("/connect/userinfo", cors(http.HandlerFunc(web.UserInfo), http.MethodGet, http.MethodPost)).Methods(http.MethodGet, http.MethodPost, http.MethodOptions)
	if cfg.GrantEnabled("authorization_code") {
		r.HandleFunc("/connect/authorize", web.Authorize).Methods(http.MethodGet, http.MethodPost)
		r.HandleFunc("/account/login", web.Login).Methods(http.MethodGet, http.MethodPost)
		r.HandleFunc("/account/consent", web.Consent).Methods(http.MethodGet, http.MethodPost)
		r.HandleFunc("/connect/endsession", web.EndSession).Methods(http.MethodGet, http.MethodPost)
	}
	if built.sms != nil {
		r.Handle("/connect/sms/code", cors(&handlers.SMSCode{
			Authenticate: func(ctx context.Context, r *http.Request) (fosite.Client, error) {
				return provider.AuthenticateClient(ctx, r, r.PostForm)
			},
			Codes: built.sms.codes, Normalize: built.sms.normalize, Logger: logger, Unavailable: unavailable, Healthy: healthy,
			Deliver: func(ctx context.Context, phone string) (bool, error) {
				return d.accounts.CanSignInByPhone(ctx, phone, built.sms.autoRegister)
			},
		}, http.MethodPost)).Methods(http.MethodPost, http.MethodOptions)
	}
	for _, rt := range b.routes {
		r.Handle(rt.path, rt.h)
	}
	meta := &handlers.Discovery{Document: discovery(cfg, d.issuer), ClaimSets: d.claimSets.Sets}
	r.Handle("/.well-known/openid-configuration", publicCORS(meta)).Methods(http.MethodGet, http.MethodOptions)
	r.Handle("/.well-known/oauth-authorization-server", publicCORS(meta)).Methods(http.MethodGet, http.MethodOptions) // RFC 8414: the same document
	r.Handle("/.well-known/openid-configuration/jwks", publicCORS(&handlers.JWKS{Keys: d.keyring.PublicKeys, MaxAge: cfg.Server.CacheTTL})).Methods(http.MethodGet, http.MethodOptions)
	ready := &handlers.Ready{Checks: map[string]func(context.Context) error{
		"database": healthy,
		"signing_key": func(ctx context.Context) error {
			_, err := d.keyring.Active(ctx)
			return err
		},
	}}
	r.HandleFunc("/healthz", handlers.Health).Methods(http.MethodGet)
	r.Handle("/readyz", ready).Methods(http.MethodGet)
	// The public address never serves /metrics: its counters (SMS sends, upstream calls) would tell
	// an outsider which requests reached a real account.
	var admin http.Handler
	if cfg.Server.AdminAddr != "" {
		api := &adminapi.API{Provider: provider, Logger: logger, Manage: &manage.Service{Store: d.store, Config: cfg,
			Accounts: d.accounts, Hasher: d.hasher, Keyring: d.keyring, Logger: logger, Now: d.now}}
		adminMW := &handlers.Middleware{Logger: logger, MaxBodyBytes: cfg.Server.MaxBodyBytes}
		admin = adminRouter(met, ready, adminMW.Wrap(api.Handler()))
	}
	r.NotFoundHandler = met.Instrument(metrics.Unmatched, http.HandlerFunc(handlers.NotFound))
	r.MethodNotAllowedHandler = met.Instrument(metrics.Unmatched, http.HandlerFunc(handlers.MethodNotAllowed))

	proxies, err := parseProxies(cfg.Server.TrustedProxies)
	if err != nil {
		return nil, nil, err
	}
	mw := &handlers.Middleware{Logger: logger, MaxBodyBytes: cfg.Server.MaxBodyBytes, TrustedProxies: proxies,
		Limit: handlers.NewLimiter(cfg.Server.MaxInFlight, cfg.Server.QueueTimeout)}
	// One query-timeout budget per request (storage.WithQueryBudget).
	budgeted := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.ServeHTTP(w, req.WithContext(storage.WithQueryBudget(req.Context())))
	})
	return mw.Wrap(budgeted), admin, nil
}

// dbHealthy is the database check of /readyz and of the error classification: a ping within 1s.
func dbHealthy(d *parts) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		return d.store.Ping(ctx)
	}
}

// adminRouter is what server.admin_addr serves: metrics for the scraper and the probes for an
// orchestrator that sits on the private network, and the admin API under /admin/ (which
// authenticates every call), none of it reachable from the public address.
func adminRouter(met *metrics.Metrics, ready, api http.Handler) http.Handler {
	r := mux.NewRouter()
	r.PathPrefix("/admin/").Handler(api)
	r.Handle("/metrics", met.Handler()).Methods(http.MethodGet)
	r.HandleFunc("/healthz", handlers.Health).Methods(http.MethodGet)
	r.Handle("/readyz", ready).Methods(http.MethodGet)
	return r
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

// discovery is the OpenID Provider metadata, built once from configuration.
func discovery(cfg *config.Config, issuer string) map[string]any {
	doc := map[string]any{
		"issuer":                                issuer,
		"token_endpoint":                        issuer + "/connect/token",
		"jwks_uri":                              issuer + "/.well-known/openid-configuration/jwks",
		"introspection_endpoint":                issuer + "/connect/introspect",
		"revocation_endpoint":                   issuer + "/connect/revocation",
		"userinfo_endpoint":                     issuer + "/connect/userinfo",
		"grant_types_supported":                 cfg.Grants.Enabled,
		"scopes_supported":                      []string{"openid", "profile", "email", "phone", "offline_access"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "none"}, // none: public clients
		"introspection_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"revocation_endpoint_auth_methods_supported":    []string{"client_secret_basic", "client_secret_post"},
		"response_types_supported":                      []string{"code"},
		"subject_types_supported":                       []string{"public"},
		"id_token_signing_alg_values_supported":         idTokenAlgs(cfg.Tokens.SigningAlgorithm),
		"request_parameter_supported":                   false, // OIDC Discovery 3: request objects are refused
		"request_uri_parameter_supported":               false,
		"claims_supported": []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "sid", "at_hash",
			"preferred_username", "name", "email", "email_verified", "phone_number", "phone_number_verified", "groups"},
	}
	if cfg.GrantEnabled("authorization_code") {
		doc["authorization_endpoint"] = issuer + "/connect/authorize"
		doc["end_session_endpoint"] = issuer + "/connect/endsession"
		doc["response_modes_supported"] = []string{"query", "form_post"}
		doc["prompt_values_supported"] = []string{"none", "login", "consent"}
		doc["ui_locales_supported"] = []string{"zh-CN", "en"}
		doc["claims_parameter_supported"] = false
		doc["code_challenge_methods_supported"] = []string{"S256"}
		doc["authorization_response_iss_parameter_supported"] = true // RFC 9207
	}
	return doc
}

// idTokenAlgs: RS256 always (OIDC Discovery 3: it MUST be included), and the configured algorithm.
func idTokenAlgs(configured string) []string {
	if configured == keys.IDTokenAlgorithm {
		return []string{configured}
	}
	return []string{keys.IDTokenAlgorithm, configured}
}

// codeSpent reports a code redemption that lost to a concurrent one: storage's compare-and-set
// lost, or fosite, reading the code again after its checks, found it used meanwhile (fosite
// answers that server_error; seen in 1 of 20 cross-node races on Galera).
func codeSpent(err error) bool {
	return errors.Is(err, storage.ErrCodeUsed) || errors.Is(err, fosite.ErrInvalidatedAuthorizeCode)
}
