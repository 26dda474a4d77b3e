// Package server is lingpai's composition root: it builds the fosite provider from configuration,
// storage and the enabled grants, and returns the http.Handler. It is the only package that knows
// every other one. provider.go holds fosite's configuration and the ordered handler table,
// routes.go the HTTP routes, builtins.go lingpai's own grants.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/grants"
	"github.com/lingpai/lingpai/internal/keys"
	"github.com/lingpai/lingpai/internal/ops/metrics"
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
	// is empty (then /metrics is not served; Handler never serves it).
	AdminHandler http.Handler
}

// New builds the server on an open, migrated store.
func New(ctx context.Context, cfg *config.Config, store *storage.Store, logger *slog.Logger, opts ...Option) (*App, error) {
	b := &builder{now: time.Now}
	for _, o := range opts {
		o(b)
	}
	if err := checkEnabled(cfg, b.custom); err != nil {
		return nil, err
	}
	if !store.EncryptsAtRest() {
		logger.WarnContext(ctx, "security.secrets is not set: private signing keys and the HMAC, CSRF and SMS secrets are stored in the database in plaintext",
			"event", "security.plaintext_key_material")
	}
	d, err := b.parts(ctx, cfg, store, logger)
	if err != nil {
		return nil, err
	}
	built, err := b.builtinGrants(ctx, d)
	if err != nil {
		return nil, err
	}
	provider, err := newProvider(ctx, d, append(built.grants, b.custom...))
	if err != nil {
		return nil, err
	}
	public, admin, err := b.router(ctx, d, provider, built)
	if err != nil {
		return nil, err
	}
	return &App{Handler: public, Store: store, Keyring: d.keyring, Accounts: d.accounts, Provider: provider, Config: cfg,
		Metrics: d.metrics, AdminHandler: admin}, nil
}

// checkEnabled refuses a grants.enabled entry that no grant serves.
func checkEnabled(cfg *config.Config, custom []grants.Grant) error {
	known := append(append([]string(nil), config.StandardGrants...), builtinTypes...)
	for _, g := range custom {
		known = append(known, g.Type())
	}
	for _, g := range cfg.Grants.Enabled {
		if !slices.Contains(known, g) {
			return fmt.Errorf("config: grants.enabled: unknown grant type %q (known: %s)", g, strings.Join(known, ", "))
		}
	}
	return nil
}
