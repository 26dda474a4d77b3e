package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/internal/tracing"
	"github.com/lingpai/lingpai/server"
	"github.com/lingpai/lingpai/storage"
)

func (e *env) serveCommand() *cobra.Command {
	var demo, migrate bool
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the token server",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			return e.serve(demo, migrate)
		},
	}
	c.Flags().BoolVar(&demo, "demo", false, "run on a throw-away embedded database seeded with a demo client and user")
	c.Flags().BoolVar(&migrate, "migrate", false, "apply pending schema migrations before serving (default: refuse an older schema)")
	return c
}

func (e *env) serve(demoMode, migrate bool) error {
	demo := &demoMode
	cfgPath := &e.cfgPath
	var loadOpts []config.Option
	if *demo {
		loadOpts = append(loadOpts, config.Demo())
	}
	cfg, err := e.loadConfig(*cfgPath, loadOpts...)
	if err != nil {
		return err
	}
	var cleanup func()
	if *demo {
		if cleanup, err = demoConfig(cfg); err != nil {
			return err
		}
		defer cleanup()
	}
	e.announce(*cfgPath, cfg)
	logger := newLogger(e.stderr, cfg)
	if msg := loopbackIssuer(cfg.Server.Issuer, cfg.Server.Addr); msg != "" && !*demo {
		logger.Warn(msg, "issuer", cfg.Server.Issuer, "addr", cfg.Server.Addr)
	}
	st, err := e.openStoreSchema(cfg, logger, migrate || *demo)
	if err != nil {
		return err
	}
	defer st.Close()
	if *demo {
		if err := seedDemo(e.ctx, cfg, st); err != nil {
			return err
		}
	}
	opts := e.opts
	if *demo {
		opts = append(opts, server.WithRoute("/demo/callback", demoCallback(strings.TrimRight(cfg.Server.Issuer, "/"))))
	}
	app, err := server.New(e.ctx, cfg, st, logger, opts...)
	if err != nil {
		return err
	}
	handler, stopTracing, err := e.tracing(cfg, app.Handler, st)
	if err != nil {
		return err
	}
	defer stopTracing()
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (server.addr): %w", cfg.Server.Addr, err)
	}
	srv := &http.Server{
		Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10,
	}
	ops, err := e.startOps(cfg, app, st, logger)
	if err != nil {
		_ = ln.Close()
		return err
	}
	ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("lingpai listening", "addr", ln.Addr().String(), "issuer", cfg.Server.Issuer,
		"database", cfg.Database.Driver, "grants", cfg.Grants.Enabled, "token_format", cfg.Tokens.Format)
	if *demo {
		printDemo(e, cfg)
	}
	select {
	case err := <-errc:
		ops.stop(context.Background())
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", cfg.Server.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	// Shutdown closes the listener at once (new connections are refused) and waits for in-flight
	// requests; the janitor and admin listener stop before the deferred store Close.
	err = srv.Shutdown(sctx)
	ops.stop(sctx)
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}

const (
	demoClientID = "client1"
	demoSecret   = "secret"
	demoUser     = "alice"
	demoPassword = "alice-password"
)

// demoConfig points the server at a throw-away SQLite file and human-readable logs.
func demoConfig(cfg *config.Config) (func(), error) {
	dir, err := os.MkdirTemp("", "lingpai-demo-")
	if err != nil {
		return nil, err
	}
	cfg.Database.Driver = "sqlite"
	cfg.Database.DSN = filepath.Join(dir, "demo.db")
	cfg.Log.Format = "text"
	return func() { _ = os.RemoveAll(dir) }, nil
}

// seedDemo creates the seed document's example client and a demo user.
func seedDemo(ctx context.Context, cfg *config.Config, st *storage.Store) error {
	h, err := hashing.Hasher{}.Hash(ctx, []byte(demoSecret))
	if err != nil {
		return err
	}
	grantTypes := append([]string(nil), config.StandardGrants...)
	for _, g := range cfg.Grants.Enabled {
		if !strings.Contains(strings.Join(grantTypes, " "), g) {
			grantTypes = append(grantTypes, g)
		}
	}
	issuer := strings.TrimRight(cfg.Server.Issuer, "/")
	if err := st.CreateClient(ctx, &storage.Client{
		ID: demoClientID, Name: "Demo client", SecretHash: h, GrantTypes: grantTypes,
		Scopes:       storage.StringList{"api1", "openid", "profile", "offline_access"},
		RedirectURIs: storage.StringList{"https://myapp.com/callback", issuer + "/demo/callback"},
	}); err != nil {
		return fmt.Errorf("demo client: %w", err)
	}
	if err := st.CreateClient(ctx, &storage.Client{
		ID: "demo-web", Name: "Demo web app 演示网页应用", Public: true, RequirePKCE: true,
		GrantTypes:             storage.StringList{"authorization_code", "refresh_token"},
		Scopes:                 storage.StringList{"openid", "profile", "email", "offline_access"},
		RedirectURIs:           storage.StringList{issuer + "/demo/callback"},
		PostLogoutRedirectURIs: storage.StringList{issuer + "/demo/callback"},
	}); err != nil {
		return fmt.Errorf("demo web client: %w", err)
	}
	name := demoUser
	ph, err := hashing.Hasher{}.Hash(ctx, []byte(demoPassword))
	if err != nil {
		return err
	}
	phone := "+8613800138000"
	return st.CreateUser(ctx, &storage.User{Username: &name, PasswordHash: ph, Name: "Alice 爱丽丝",
		Email: "alice@example.com", EmailVerified: true, Phone: &phone, PhoneVerified: true})
}

func printDemo(e *env, cfg *config.Config) {
	base := strings.TrimRight(cfg.Server.Issuer, "/")
	fmt.Fprintf(e.stdout, `
lingpai demo is running at %[1]s (throw-away database; nothing is kept).
Client %[2]s / %[3]s may use %[4]s. User %[5]s / %[6]s.

  # client_credentials
  curl -s -u %[2]s:%[3]s -d grant_type=client_credentials %[1]s/connect/token

  # password (refresh_token comes with offline_access, id_token with openid)
  curl -s -u %[2]s:%[3]s -d grant_type=password -d username=%[5]s -d password=%[6]s %[1]s/connect/token

  # refresh_token (paste the refresh_token from the answer above)
  curl -s -u %[2]s:%[3]s -d grant_type=refresh_token -d refresh_token=PASTE %[1]s/connect/token

  # discovery and keys
  curl -s %[1]s/.well-known/openid-configuration

Browser sign-in (authorization_code + PKCE, public client demo-web): open
  %[7]s
sign in as %[5]s, allow, and paste the command the callback page shows.
`, base, demoClientID, demoSecret, strings.Join(cfg.Grants.Enabled, ","), demoUser, demoPassword, demoAuthorizeURL(base))
}

// tracing wraps the handler and the database in OpenTelemetry spans when tracing.otlp_endpoint is
// set; otherwise it returns the handler as it is.
func (e *env) tracing(cfg *config.Config, h http.Handler, st *storage.Store) (http.Handler, func(), error) {
	tc := tracing.Config{OTLPEndpoint: cfg.Tracing.OTLPEndpoint, ServiceName: cfg.Tracing.ServiceName, SampleRatio: cfg.Tracing.SampleRatio}
	tp, shutdown, err := tracing.Setup(e.ctx, tc, buildVersion().Version)
	if err != nil || tp == nil {
		return h, func() {}, err
	}
	stop := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), 5*time.Second)
		defer cancel()
		_ = shutdown(ctx) // flush the last spans
	}
	wrapped, err := tracing.Instrument(h, st.DB(e.ctx), tp)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return wrapped, stop, nil
}

// loopbackIssuer warns about the container default gone wrong: listening on every interface (so
// other hosts are meant to connect) while the issuer, the iss of every token and the base of every
// URL in discovery, is a loopback address other hosts cannot reach.
func loopbackIssuer(issuer, addr string) string {
	u, err := url.Parse(issuer)
	if err != nil {
		return ""
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		return ""
	}
	ih := u.Hostname()
	if ip := net.ParseIP(ih); ih != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return ""
	}
	return "server.issuer is a loopback URL but server.addr listens on every interface: clients on other hosts get tokens and discovery URLs they cannot use; set server.issuer (LINGPAI_SERVER_ISSUER) to the public URL"
}
