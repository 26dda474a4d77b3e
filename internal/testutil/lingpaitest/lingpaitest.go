// Package lingpaitest starts a real lingpai over HTTP for tests: the full server built by
// server.New on a fresh SQLite or MySQL database, behind httptest, restartable on the same data.
package lingpaitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/internal/reqctx"
	"github.com/lingpai/lingpai/migrations"
	"github.com/lingpai/lingpai/server"
	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/storagetest"
)

// Server is a running lingpai.
type Server struct {
	t       testing.TB
	URL     string
	Config  *config.Config
	App     *server.App
	Store   *storage.Store
	Logs    *SyncBuffer
	opts    []server.Option
	httpSrv *httptest.Server
	handler *swapHandler
}

// SyncBuffer is a goroutine-safe log sink tests can search.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Mentions reports whether secret appears in the log as a whole token, not inside a longer run of
// letters or digits. A plain substring search for a short numeric secret (a 4-digit PIN, a 6-digit
// SMS code) also matches timestamps' nanoseconds and durations, which made leak checks flaky.
func (b *SyncBuffer) Mentions(secret string) bool {
	re := regexp.MustCompile(`(^|[^0-9A-Za-z])` + regexp.QuoteMeta(secret) + `([^0-9A-Za-z]|$)`)
	return re.MatchString(b.String())
}

type swapHandler struct {
	mu sync.RWMutex
	h  http.Handler
}

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	h := s.h
	s.mu.RUnlock()
	h.ServeHTTP(w, r)
}

// Start runs lingpai on backend ("sqlite", "mysql" or "postgres"). configure may adjust the configuration
// before the server is built (the issuer is set to the test URL).
func Start(t testing.TB, backend string, configure func(*config.Config), opts ...server.Option) *Server {
	t.Helper()
	sh := &swapHandler{h: http.NotFoundHandler()}
	hs := httptest.NewServer(sh)
	t.Cleanup(hs.Close)
	cfg := config.Default()
	cfg.Server.Issuer = hs.URL
	cfg.Server.CacheTTL = 0 // tests change clients and keys and expect to see it at once
	cfg.Throttle.Lockout = time.Minute
	cfg.Database.Driver = backend
	switch backend {
	case "sqlite":
		cfg.Database.DSN = t.TempDir() + "/lingpai.db"
	case "mysql":
		cfg.Database.DSN = storagetest.MySQLDSN(t)
	case "postgres":
		cfg.Database.DSN = storagetest.PostgresDSN(t)
	default:
		t.Fatalf("unknown backend %q", backend)
	}
	if configure != nil {
		configure(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, URL: hs.URL, Config: cfg, Logs: &SyncBuffer{}, opts: opts, httpSrv: hs, handler: sh}
	s.build()
	return s
}

func (s *Server) build() {
	s.t.Helper()
	st, err := storage.Open(storage.Options{Driver: s.Config.Database.Driver, DSN: s.Config.Database.DSN, DSNs: s.Config.Database.DSNs, QueryTimeout: s.Config.Database.QueryTimeout,
		ClientCacheTTL: s.Config.Server.CacheTTL, DefaultAudience: []string{s.URL + "/resources"}, Secrets: secrets(s.Config),
		StatelessAccessTokens: !s.Config.Tokens.StoreAccessTokens, AccessTokenLifetime: s.Config.Tokens.AccessTokenLifetime})
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { _ = st.Close() })
	// The schema as production gets it: the versioned migrations (a replica's second build finds
	// them applied), so the CLI run against the same database sees a current schema.
	sqlDB, err := st.DB(context.Background()).DB()
	if err != nil {
		s.t.Fatal(err)
	}
	m, err := migrations.New(sqlDB, s.Config.Database.Driver, migrations.Options{})
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := m.Up(context.Background()); err != nil {
		s.t.Fatal(err)
	}
	logger := slog.New(reqctx.Handler(slog.NewJSONHandler(s.Logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	app, err := server.New(context.Background(), s.Config, st, logger, s.opts...)
	if err != nil {
		s.t.Fatal(err)
	}
	s.App, s.Store = app, st
	s.handler.mu.Lock()
	s.handler.h = app.Handler
	s.handler.mu.Unlock()
}

// Restart builds a new server (new keyring, new caches, new connections) on the same database
// and URL, as a process restart would.
func (s *Server) Restart() {
	s.t.Helper()
	old := s.Store
	s.build()
	_ = old.Close()
}

// Client registers a client with a generated (fast-hashed) secret and returns the secret.
func (s *Server) Client(id string, grantTypes, scopes []string, mutate ...func(*storage.Client)) string {
	s.t.Helper()
	secret, err := hashing.GenerateSecret()
	if err != nil {
		s.t.Fatal(err)
	}
	c := &storage.Client{ID: id, Name: id, SecretHash: hashing.HashGenerated([]byte(secret)), GrantTypes: grantTypes, Scopes: scopes}
	for _, m := range mutate {
		m(c)
	}
	if err := s.Store.CreateClient(context.Background(), c); err != nil {
		s.t.Fatal(err)
	}
	return secret
}

// User creates a local user.
func (s *Server) User(username, password string) *storage.User {
	s.t.Helper()
	u, err := s.App.Accounts.CreateUser(context.Background(), accounts.NewUser{Username: username, Password: password, Name: "User " + username, Email: username + "@example.com"})
	if err != nil {
		s.t.Fatal(err)
	}
	return u
}

// Response is a decoded HTTP answer.
type Response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// Str returns a string field of the JSON body.
func (r *Response) Str(k string) string {
	v, _ := r.Body[k].(string)
	return v
}

// Post sends a form, optionally with HTTP Basic credentials (form-encoded per RFC 6749 2.3.1).
func (s *Server) Post(path string, form url.Values, basicUser, basicPass string) *Response {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	return s.Do(req)
}

// Do sends req and decodes the answer.
func (s *Server) Do(req *http.Request) *Response {
	s.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := &Response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &out.Body)
	return out
}

// Token posts to /connect/token with Basic client authentication.
func (s *Server) Token(clientID, secret string, form url.Values) *Response {
	s.t.Helper()
	return s.Post("/connect/token", form, clientID, secret)
}

// Replica starts a second server on the same database and issuer, as a second replica behind a
// load balancer would run: its own keyring, caches and connections.
func (s *Server) Replica() *Server {
	s.t.Helper()
	sh := &swapHandler{h: http.NotFoundHandler()}
	hs := httptest.NewServer(sh)
	s.t.Cleanup(hs.Close)
	cfg := *s.Config
	r := &Server{t: s.t, URL: hs.URL, Config: &cfg, Logs: &SyncBuffer{}, opts: s.opts, httpSrv: hs, handler: sh}
	r.build()
	return r
}

func secrets(cfg *config.Config) [][]byte {
	var out [][]byte
	for _, v := range cfg.Security.Secrets {
		out = append(out, []byte(v))
	}
	return out
}
