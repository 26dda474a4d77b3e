package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRepositoryConfigLoads(t *testing.T) {
	cfg, err := Load("../config.yaml", true, nil)
	if err != nil {
		t.Fatalf("config.yaml at the repository root does not load: %v", err)
	}
	def := Default()
	if cfg.Server.Addr != def.Server.Addr || cfg.Tokens.AccessTokenLifetime != time.Hour || cfg.Database.Driver != "sqlite" {
		t.Fatalf("config.yaml disagrees with the defaults: %+v", cfg)
	}
}

func TestEveryKeyIsDocumentedInConfigYAML(t *testing.T) {
	raw, err := os.ReadFile("../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Keys() {
		leaf := k[strings.LastIndex(k, ".")+1:]
		if !strings.Contains(string(raw), leaf+":") {
			t.Errorf("key %s is not in config.yaml", k)
		}
	}
}

func TestLoadErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name, yaml string
		env        []string
		want       []string
	}{
		{"unknown key", "server:\n  adress: x\n", nil, []string{"adress"}}, //nolint:misspell // the typo is the test
		{"bad duration", "tokens:\n  access_token_lifetime: 10\n", nil, []string{"tokens.access_token_lifetime"}},
		{"bad driver", "database:\n  driver: oracle\n", nil, []string{"database.driver"}},
		{"dsns with sqlite", "database:\n  dsns: [a.db, b.db]\n", nil, []string{"database.dsns"}},
		{"empty dsns entry", "database:\n  driver: mysql\n  dsns: [\"root@tcp(a:3306)/x\", \"\"]\n", nil, []string{"database.dsns"}},
		{"several at once", "tokens:\n  format: xml\nthrottle:\n  max_failures: 0\n", nil, []string{"tokens.format", "throttle.max_failures"}},
		{"env bad value", "", []string{"LINGPAI_THROTTLE_WINDOW=soon"}, []string{"LINGPAI_THROTTLE_WINDOW", "throttle.window"}},
		{"env unknown variable", "", []string{"LINGPAI_DATABSE_DSN=x"}, []string{"LINGPAI_DATABSE_DSN"}},
		{"short secret", "tokens:\n  secret: short\n", nil, []string{"tokens.secret"}},
		{"negative hash limit", "security:\n  max_concurrent_hashes: -1\n", nil, []string{"security.max_concurrent_hashes"}},
		{"zero hash wait", "security:\n  hash_queue_wait: 0s\n", nil, []string{"security.hash_queue_wait"}},
		{"issuer with query", "server:\n  issuer: https://x.example/?a=b\n", nil, []string{"server.issuer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(write(t, tt.yaml), true, tt.env)
			if err == nil {
				t.Fatal("loaded without error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	cfg, err := Load(write(t, "database:\n  dsn: file.db\n"), true, []string{
		"LINGPAI_DATABASE_DRIVER=mysql", "LINGPAI_DATABASE_DSN=root@tcp(db:3306)/lingpai",
		"LINGPAI_THROTTLE_MAX_FAILURES=7", "LINGPAI_GRANTS_ENABLED=password, refresh_token",
		"LINGPAI_SERVER_CACHE_TTL=5s", "LINGPAI_TEST_MYSQL_DSN=ignored", "PATH=/bin",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Database.Driver != "mysql" || cfg.Database.DSN != "root@tcp(db:3306)/lingpai" || cfg.Throttle.MaxFailures != 7 ||
		len(cfg.Grants.Enabled) != 2 || cfg.Grants.Enabled[1] != "refresh_token" || cfg.Server.CacheTTL != 5*time.Second {
		t.Fatalf("overrides not applied: %+v", cfg)
	}
	if EnvName("throttle.ip_max_failures") != "LINGPAI_THROTTLE_IP_MAX_FAILURES" {
		t.Fatal("EnvName")
	}
}

func TestMissingFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "none.yaml"), false, nil); err != nil {
		t.Fatalf("optional missing file: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none.yaml"), true, nil); err == nil {
		t.Fatal("required missing file loaded")
	}
}

func TestSecretFile(t *testing.T) {
	sf := filepath.Join(t.TempDir(), "secret")
	_ = os.WriteFile(sf, []byte(strings.Repeat("k", 40)+"\n"), 0o600)
	cfg, err := Load("", false, []string{"LINGPAI_TOKENS_SECRET_FILE=" + sf})
	if err != nil || cfg.Tokens.Secret != strings.Repeat("k", 40) {
		t.Fatalf("secret_file: %v %q", err, cfg.Tokens.Secret)
	}
}

// TestClusterDatabaseKeys: postgres is a driver, and database.dsns (from YAML or, comma-separated,
// from the environment) stands in for database.dsn.
func TestClusterDatabaseKeys(t *testing.T) {
	cfg, err := Load(write(t, "database:\n  driver: postgres\n  dsn: \"\"\n  dsns: [\"postgres://a/x\", \"postgres://b/x\"]\n"), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Database.Driver != "postgres" || len(cfg.Database.DSNs) != 2 || cfg.Database.DSNs[1] != "postgres://b/x" {
		t.Fatalf("database: %+v", cfg.Database)
	}
	cfg, err = Load(write(t, "database:\n  driver: mysql\n  dsn: \"\"\n"), true,
		[]string{"LINGPAI_DATABASE_DSNS=root@tcp(db1:3306)/l, root@tcp(db2:3306)/l"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Database.DSNs) != 2 || cfg.Database.DSNs[1] != "root@tcp(db2:3306)/l" {
		t.Fatalf("LINGPAI_DATABASE_DSNS: %q", cfg.Database.DSNs)
	}
	list := filepath.Join(t.TempDir(), "dsns")
	if err := os.WriteFile(list, []byte("# the nodes\nu:p@tcp(db1:3306)/l\n\nu:p@tcp(db2:3306)/l\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = Load(write(t, "database:\n  driver: mysql\n  dsn: \"\"\n  dsns_file: "+list+"\n"), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Database.DSNs) != 2 || cfg.Database.DSNs[0] != "u:p@tcp(db1:3306)/l" {
		t.Fatalf("database.dsns_file: %q", cfg.Database.DSNs)
	}
}

func TestSecuritySecrets(t *testing.T) {
	sf := filepath.Join(t.TempDir(), "secrets")
	_ = os.WriteFile(sf, []byte(strings.Repeat("a", 32)+"\n\n"+strings.Repeat("b", 32)+"\n"), 0o600)
	cfg, err := Load("", false, []string{"LINGPAI_SECURITY_SECRETS_FILE=" + sf, "LINGPAI_SECURITY_SECRETS=" + strings.Repeat("c", 32)})
	if err != nil || len(cfg.Security.Secrets) != 3 || cfg.Security.Secrets[0] != strings.Repeat("a", 32) || cfg.Security.Secrets[2] != strings.Repeat("c", 32) {
		t.Fatalf("secrets: %v %q", err, cfg.Security.Secrets)
	}
	if _, err := Load("", false, []string{"LINGPAI_SECURITY_SECRETS=short"}); err == nil || !strings.Contains(err.Error(), "security.secrets[0]") {
		t.Fatalf("short secret: %v", err)
	}
}
