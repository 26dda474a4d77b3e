package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lingpai/lingpai/internal/upstream/ldapdir"
	"github.com/lingpai/lingpai/internal/upstream/wechat"
)

// Config is the whole of lingpai's configuration. Its yaml tags are the key names users write in
// config.yaml and, upper-cased with dots as underscores, in LINGPAI_* environment variables.
type Config struct {
	Server   Server   `yaml:"server"`
	Database Database `yaml:"database"`
	Tokens   Tokens   `yaml:"tokens"`
	Throttle Throttle `yaml:"throttle"`
	Grants   Grants   `yaml:"grants"`
	Log      Log      `yaml:"log"`
	UI       UI       `yaml:"ui"`
	// SMS is required when grants.enabled lists sms.
	SMS *SMS `yaml:"sms"`
	// WeChat is required when grants.enabled lists wechat.
	WeChat *wechat.Config `yaml:"wechat"`
	// LDAP is required when grants.enabled lists password_ad.
	LDAP *ldapdir.Config `yaml:"ldap"`

	demo     bool     // serve --demo: development-only choices (the log SMS provider) are allowed
	Janitor  Janitor  `yaml:"janitor"`
	Tracing  Tracing  `yaml:"tracing"`
	Security Security `yaml:"security"` // config/security.go
}

// Server is the HTTP side.
type Server struct {
	Addr            string        `yaml:"addr"`
	Issuer          string        `yaml:"issuer"`
	MaxBodyBytes    int64         `yaml:"max_body_bytes"`
	CacheTTL        time.Duration `yaml:"cache_ttl"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// TrustedProxies lists proxy addresses (IPs or CIDRs) whose X-Forwarded-For is believed when
	// working out the client IP for throttling; empty means the TCP peer is the client.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// AdminAddr is a second listener serving /metrics (and the health probes), on loopback by
	// default; the public address never serves /metrics. Empty turns the listener (and metrics) off.
	AdminAddr string `yaml:"admin_addr"`
	// AdminTLS, when set, makes the admin listener HTTPS and requires a client certificate signed
	// by client_ca_file (mTLS), on top of the admin API's bearer tokens.
	AdminTLS *AdminTLS `yaml:"admin_tls"`
	// MaxInFlight bounds the requests served at once; beyond it a request waits up to
	// QueueTimeout, then gets 503 temporarily_unavailable with Retry-After (load shedding).
	MaxInFlight  int           `yaml:"max_in_flight"`
	QueueTimeout time.Duration `yaml:"queue_timeout"`
}

// AdminTLS is the admin listener's TLS: its certificate and the CA its clients' certificates
// must chain to.
type AdminTLS struct {
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	ClientCAFile string `yaml:"client_ca_file"`
}

// Database selects the storage backend.
type Database struct {
	Driver string `yaml:"driver"`
	DSN    string `yaml:"dsn"`
	// DSNs lists several servers of one cluster (Galera nodes, say), tried in order: lingpai uses
	// the first healthy one and fails over and back by health. When set, it replaces dsn.
	DSNs []string `yaml:"dsns"`
	// DSNsFile reads dsns from a file, one DSN per line (they carry passwords).
	DSNsFile string `yaml:"dsns_file"`
	// DSNFile reads the DSN from a file (Docker/Kubernetes secrets), since it carries the password.
	DSNFile         string        `yaml:"dsn_file"`
	MaxOpenConns    int           `yaml:"max_open_conns"`
	MaxIdleConns    int           `yaml:"max_idle_conns"`
	ConnMaxLifetime time.Duration `yaml:"conn_max_lifetime"`
	// QueryTimeout bounds every query (and the wait for a connection): a frozen or unreachable
	// database makes requests answer 503 within it instead of hanging.
	QueryTimeout time.Duration `yaml:"query_timeout"`
}

// Tokens sets lifetimes and formats.
type Tokens struct {
	AccessTokenLifetime  time.Duration `yaml:"access_token_lifetime"`
	RefreshTokenLifetime time.Duration `yaml:"refresh_token_lifetime"`
	AuthCodeLifetime     time.Duration `yaml:"authorization_code_lifetime"`
	IDTokenLifetime      time.Duration `yaml:"id_token_lifetime"`
	// Format is jwt (RFC 9068 access tokens) or opaque (HMAC tokens that only introspection can read).
	Format           string `yaml:"format"`
	SigningAlgorithm string `yaml:"signing_algorithm"`
	// Secret keys the HMAC of refresh tokens, codes and opaque access tokens. Empty: one is generated
	// on first start and kept in the database, so every replica uses the same one.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// StoreAccessTokens false issues JWT access tokens without a database row (as IdentityServer4
	// does): an access token costs its signature alone, introspection checks the signature and the
	// revocation list (its jti, its grant, its user), and a refresh no longer ends the previous
	// access token before its expiry. Needs format jwt.
	StoreAccessTokens bool `yaml:"store_access_tokens"`
}

// Throttle bounds password guessing; counters live in the database so every replica sees them.
type Throttle struct {
	MaxFailures   int           `yaml:"max_failures"`
	IPMaxFailures int           `yaml:"ip_max_failures"`
	Window        time.Duration `yaml:"window"`
	Lockout       time.Duration `yaml:"lockout"`
}

// Grants lists the grant types this server accepts.
type Grants struct {
	Enabled []string `yaml:"enabled"`
}

// Log sets the log output.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// StandardGrants are the grants fosite itself provides.
var StandardGrants = []string{"authorization_code", "client_credentials", "password", "refresh_token"}

// Default returns a configuration that runs as it is: embedded SQLite, JWT access tokens.
func Default() *Config {
	return &Config{
		Server: Server{
			Addr: "127.0.0.1:8080", Issuer: "http://127.0.0.1:8080", MaxBodyBytes: 64 << 10,
			CacheTTL: 30 * time.Second, ShutdownTimeout: 15 * time.Second, AdminAddr: "127.0.0.1:9090",
			MaxInFlight: 32, QueueTimeout: time.Second,
		},
		Database: Database{Driver: "sqlite", DSN: "lingpai.db", MaxOpenConns: 20, MaxIdleConns: 10, ConnMaxLifetime: 5 * time.Minute, QueryTimeout: 5 * time.Second},
		Tokens: Tokens{
			AccessTokenLifetime: time.Hour, RefreshTokenLifetime: 30 * 24 * time.Hour,
			AuthCodeLifetime: 5 * time.Minute, IDTokenLifetime: time.Hour,
			Format: "jwt", SigningAlgorithm: "RS256", StoreAccessTokens: true,
		},
		Throttle: Throttle{MaxFailures: 5, IPMaxFailures: 50, Window: 15 * time.Minute, Lockout: 15 * time.Minute},
		Grants:   Grants{Enabled: append([]string(nil), StandardGrants...)},
		Log:      Log{Level: "info", Format: "json"},
		UI:       defaultUI(),
		Janitor:  Janitor{Interval: 10 * time.Minute, BatchSize: 500},
		Tracing:  Tracing{ServiceName: "lingpai", SampleRatio: 1},
		Security: defaultSecurity(),
	}
}

// Load reads path (when it exists, or must exist when required), applies the environment and
// validates the result. env is os.Environ()'s shape, passed in so tests need no global state.
func Load(path string, required bool, env []string, opts ...Option) (*Config, error) {
	cfg := Default()
	for _, o := range opts {
		o(cfg)
	}
	if path != "" {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			if err := decodeYAML(data, cfg); err != nil {
				return nil, fmt.Errorf("config %s: %w", path, err)
			}
		case errors.Is(err, fs.ErrNotExist) && !required:
		default:
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	if err := applyEnv(cfg, env); err != nil {
		return nil, err
	}
	if err := cfg.resolveFiles(); err != nil {
		return nil, err
	}
	cfg.sectionDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func decodeYAML(data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // an unknown key is a typo until proven otherwise
	err := dec.Decode(cfg)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	// yaml.v3 names lines; users think in keys. Rewrite "line 7: ..." as "tokens.format (line 7): ...".
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root)
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		var line int
		if _, serr := fmt.Sscanf(m, "line %d:", &line); serr == nil {
			if key := keyAtLine(&root, line, ""); key != "" {
				m = key + " (" + m + ")"
			}
		}
		msgs[i] = m
	}
	return errors.New(strings.Join(msgs, "\n  "))
}

// keyAtLine returns the dotted path of the mapping key on line.
func keyAtLine(n *yaml.Node, line int, prefix string) string {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			if k := keyAtLine(c, line, prefix); k != "" {
				return k
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			path := n.Content[i].Value
			if prefix != "" {
				path = prefix + "." + path
			}
			if n.Content[i].Line == line {
				return path
			}
			if k := keyAtLine(n.Content[i+1], line, path); k != "" {
				return k
			}
		}
	}
	return ""
}

// resolveFiles reads *_file secrets so the rest of the program only sees values.
func (c *Config) resolveFiles() error {
	if c.Database.DSNFile != "" {
		b, err := os.ReadFile(c.Database.DSNFile)
		if err != nil {
			return fmt.Errorf("config: database.dsn_file: %w", err)
		}
		c.Database.DSN = strings.TrimSpace(string(b))
	}
	if c.Database.DSNsFile != "" {
		b, err := os.ReadFile(c.Database.DSNsFile)
		if err != nil {
			return fmt.Errorf("config: database.dsns_file: %w", err)
		}
		c.Database.DSNs = nil
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				c.Database.DSNs = append(c.Database.DSNs, line)
			}
		}
	}
	if c.Security.SecretsFile != "" {
		b, err := os.ReadFile(c.Security.SecretsFile)
		if err != nil {
			return fmt.Errorf("config: security.secrets_file: %w", err)
		}
		var fromFile []string
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				fromFile = append(fromFile, line)
			}
		}
		c.Security.Secrets = append(fromFile, c.Security.Secrets...)
	}
	if c.Tokens.SecretFile != "" {
		b, err := os.ReadFile(c.Tokens.SecretFile)
		if err != nil {
			return fmt.Errorf("config: tokens.secret_file: %w", err)
		}
		c.Tokens.Secret = strings.TrimSpace(string(b))
	}
	return nil
}

// Option adjusts loading.
type Option func(*Config)

// Demo allows development-only choices (serve --demo).
func Demo() Option { return func(c *Config) { c.demo = true } }

// sectionDefaults fills the keys present optional sections leave out (after the environment, which
// may create a section).
func (c *Config) sectionDefaults() {
	if c.SMS != nil {
		c.SMS.setDefaults()
	}
	if c.WeChat != nil {
		c.WeChat.SetDefaults()
	}
	if c.LDAP != nil {
		c.LDAP.SetDefaults()
	}
}

// GrantEnabled reports whether grant type name is listed in grants.enabled.
func (c *Config) GrantEnabled(name string) bool {
	for _, g := range c.Grants.Enabled {
		if g == name {
			return true
		}
	}
	return false
}
