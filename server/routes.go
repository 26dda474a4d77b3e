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
	"github.com/lingpai/lingpai/internal/ops/metrics"
	"github.com/lingpai/lingpai/storage"
)

// router mounts every endpoint; the second handler is the admin listener's (nil when
// server.admin_addr is empty).
func (b *builder) router(ctx context.Context, d *parts, provider *fosite.Fosite, built builtins) (http.Handler, http.Handler, error) {
	cfg, logger, met := d.cfg, d.logger, d.metrics
	healthy := dbHealthy(d)
	enabled := map[string]bool{}
	for _, g := range cfg.Grants.Enabled {
		enabled[g] = true
	}
	r := mux.NewRouter()
	r.Use(met.Middleware)
	unavailable := storage.IsUnavailable
	r.Handle("/connect/token", &handlers.Token{Provider: provider, Enabled: enabled, Logger: logger, Healthy: healthy, Metrics: met,
		Unavailable: unavailable,
		Reused:      func(err error) bool { return errors.Is(err, storage.ErrTokenReused) }})
	r.Handle("/connect/introspect", &handlers.Introspect{Provider: provider, Healthy: healthy, Unavailable: unavailable}).Methods(http.MethodPost)
	r.Handle("/connect/revocation", &handlers.Revoke{Provider: provider, Logger: logger, Healthy: healthy, Unavailable: unavailable}).Methods(http.MethodPost)
	web, err := b.web(ctx, d, provider, built)
	if err != nil {
		return nil, nil, err
	}
	r.HandleFunc("/connect/userinfo", web.UserInfo).Methods(http.MethodGet, http.MethodPost)
	if cfg.GrantEnabled("authorization_code") {
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
			Codes: built.sms.codes, Normalize: built.sms.normalize, Logger: logger, Unavailable: unavailable, Healthy: healthy,
			Deliver: func(ctx context.Context, phone string) (bool, error) {
				return d.accounts.CanSignInByPhone(ctx, phone, built.sms.autoRegister)
			},
		}).Methods(http.MethodPost)
	}
	for _, rt := range b.routes {
		r.Handle(rt.path, rt.h)
	}
	r.Handle("/.well-known/openid-configuration", &handlers.Discovery{Document: discovery(cfg, d.issuer)}).Methods(http.MethodGet)
	r.Handle("/.well-known/openid-configuration/jwks", &handlers.JWKS{Keys: d.keyring.PublicKeys, MaxAge: cfg.Server.CacheTTL}).Methods(http.MethodGet)
	ready := &handlers.Ready{Checks: map[string]func(context.Context) error{
		"database": healthy,
		"signing_key": func(ctx context.Context) error {
			_, err := d.keyring.Active(ctx)
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
// orchestrator that sits on the private network, none of it reachable from the public address.
func adminRouter(met *metrics.Metrics, ready http.Handler) http.Handler {
	r := mux.NewRouter()
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
		"id_token_signing_alg_values_supported":         []string{cfg.Tokens.SigningAlgorithm},
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
	}
	return doc
}
