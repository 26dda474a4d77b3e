package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/internal/reqctx"
	"github.com/lingpai/lingpai/internal/upstream/smsgw"
	"github.com/lingpai/lingpai/server"
	"github.com/lingpai/lingpai/storage"
)

// instance is one lingpai listening on loopback.
type instance struct {
	backend string
	url     string
	app     *server.App
	store   *storage.Store
	srv     *http.Server
	sms     *smsInbox
	cleanup []func()

	generated, chosenSecret string // client secrets
	userID                  string
}

const (
	chosen       = "client1-secret-a-person-chose" // like the seed's client1 / secret
	userName     = "alice"
	userPassword = "alice-password"
	redirectURI  = "http://127.0.0.1/cb"
	smsSecret    = "bench-webhook-secret"
)

// start runs lingpai on backend with dsn, configured as in production (cache_ttl 30s, JSON
// request log, metrics), with the sms grant on a loopback webhook.
func start(ctx context.Context, backend, dsn string, tune func(*config.Config)) (*instance, error) {
	in := &instance{backend: backend, sms: &smsInbox{codes: map[string]string{}}}
	ok := false
	defer func() {
		if !ok {
			in.close()
		}
	}()
	hook := &http.Server{Handler: in.sms}
	hookLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() { _ = hook.Serve(hookLn) }()
	in.cleanup = append(in.cleanup, func() { _ = hook.Close() })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	in.url = "http://" + ln.Addr().String()
	cfg := config.Default()
	cfg.Server.Addr = ln.Addr().String()
	cfg.Server.Issuer = in.url
	cfg.Database.Driver, cfg.Database.DSN = backend, dsn
	cfg.Grants.Enabled = append(cfg.Grants.Enabled, "sms")
	cfg.SMS = &config.SMS{Config: smsgw.Config{Provider: "webhook", Webhook: smsgw.Webhook{URL: "http://" + hookLn.Addr().String(), Secret: smsSecret}}}
	cfg.SMS.Config.SetDefaults()
	cfg.SMS.DefaultRegion, cfg.SMS.CodeLength, cfg.SMS.TTL, cfg.SMS.MaxAttempts, cfg.SMS.ResendInterval = "CN", 6, 5*time.Minute, 5, time.Minute
	// Every sign-in uses its own phone number; the per-IP and budget limits would stop a
	// benchmark from one address long before it measured anything.
	cfg.SMS.HourlyLimit, cfg.SMS.DailyLimit, cfg.SMS.IPHourlyLimit, cfg.SMS.DailyBudget = 5, 10, 1000000, 1000000
	cfg.SMS.AutoRegister = true
	if tune != nil {
		tune(cfg)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// The production request log (JSON, one line per request), written to nowhere: its
	// formatting is part of every request's cost, the terminal's speed is not.
	logger := slog.New(reqctx.Handler(slog.NewJSONHandler(io.Discard, nil))) //nolint:sloglint // the formatting is the cost measured
	st, err := storage.Open(storage.Options{Logger: logger, Driver: backend, DSN: dsn,
		MaxOpenConns: cfg.Database.MaxOpenConns, MaxIdleConns: cfg.Database.MaxIdleConns, ConnMaxLifetime: cfg.Database.ConnMaxLifetime,
		ClientCacheTTL: cfg.Server.CacheTTL, DefaultAudience: []string{in.url + "/resources"},
		StatelessAccessTokens: !cfg.Tokens.StoreAccessTokens, AccessTokenLifetime: cfg.Tokens.AccessTokenLifetime})
	if err != nil {
		return nil, err
	}
	in.store = st
	in.cleanup = append(in.cleanup, func() { _ = st.Close() })
	if err := st.Migrate(ctx, server.Models()...); err != nil {
		return nil, err
	}
	if in.app, err = server.New(ctx, cfg, st, logger); err != nil {
		return nil, err
	}
	if err := in.seed(ctx); err != nil {
		return nil, err
	}
	in.srv = &http.Server{Handler: in.app.Handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = in.srv.Serve(ln) }()
	in.cleanup = append(in.cleanup, func() { _ = in.srv.Close() })
	ok = true
	return in, nil
}

func (in *instance) close() {
	for i := len(in.cleanup) - 1; i >= 0; i-- {
		in.cleanup[i]()
	}
}

func (in *instance) seed(ctx context.Context) error {
	var err error
	if in.generated, err = hashing.GenerateSecret(); err != nil {
		return err
	}
	chosenHash, err := hashing.Hasher{}.Hash(ctx, []byte(chosen))
	if err != nil {
		return err
	}
	all := []string{"client_credentials", "password", "refresh_token", "authorization_code", "sms"}
	scopes := []string{"openid", "profile", "phone", "offline_access", "api"}
	for _, c := range []*storage.Client{
		{ID: "generated", Name: "generated", SecretHash: hashing.HashGenerated([]byte(in.generated)), GrantTypes: all, Scopes: scopes, RedirectURIs: []string{redirectURI}, SkipConsent: true},
		{ID: "chosen", Name: "chosen", SecretHash: chosenHash, GrantTypes: all, Scopes: scopes},
	} {
		if err := in.store.CreateClient(ctx, c); err != nil {
			return fmt.Errorf("seed client %s: %w", c.ID, err)
		}
	}
	in.chosenSecret = chosen
	u, err := in.app.Accounts.CreateUser(ctx, accounts.NewUser{Username: userName, Password: userPassword, Name: "Alice", Email: "alice@example.com"})
	if err != nil {
		return fmt.Errorf("seed user: %w", err)
	}
	in.userID = u.ID
	return nil
}

// smsInbox is the SMS gateway: a webhook receiver that keeps the last code per phone.
type smsInbox struct {
	mu    sync.Mutex
	codes map[string]string
}

func (s *smsInbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if !smsgw.VerifyWebhookSignature([]byte(smsSecret), body, r.Header.Get(smsgw.SignatureHeader)) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var m struct{ Phone, Code string }
	if err := json.Unmarshal(body, &m); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.codes[m.Phone] = m.Code
	s.mu.Unlock()
}

func (s *smsInbox) take(phone string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.codes[phone]
	delete(s.codes, phone)
	return c
}

// sqliteDSN is a fresh database file in dir.
func sqliteDSN(dir string) string { return filepath.Join(dir, "bench.db") }

// mysqlDatabase creates a fresh database on the server of base (a DSN ending in "/" or a
// database name) and returns its DSN and a function that drops it; ok is false when no server
// answers.
func mysqlDatabase(ctx context.Context, base, suffix string) (dsn string, drop func(), err error) {
	slash := strings.LastIndex(base, "/")
	if slash < 0 {
		return "", nil, fmt.Errorf("mysql DSN %q has no /database part", base)
	}
	root, params := base[:slash+1], ""
	if q := strings.Index(base[slash:], "?"); q >= 0 {
		params = base[slash+q:]
	}
	db, err := sql.Open("mysql", root+params)
	if err != nil {
		return "", nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		_ = db.Close()
		return "", nil, err
	}
	name := fmt.Sprintf("lingpai_bench_%d%s", os.Getpid(), suffix)
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		_ = db.Close()
		return "", nil, err
	}
	drop = func() {
		_, _ = db.Exec("DROP DATABASE " + name)
		_ = db.Close()
	}
	return root + name + params, drop, nil
}
