package deploy_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/lingpai/lingpai/config"
)

type composeFile struct {
	Services map[string]struct {
		Environment yaml.Node `yaml:"environment"`
		Secrets     []string  `yaml:"secrets"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
	Secrets map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

func loadCompose(t *testing.T) *composeFile {
	t.Helper()
	raw, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return &c
}

// environment reads both compose spellings: a map (KEY: value) or a list (KEY=value).
func environment(t *testing.T, n yaml.Node) map[string]string {
	t.Helper()
	out := map[string]string{}
	switch n.Kind {
	case 0:
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			out[n.Content[i].Value] = n.Content[i+1].Value
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			k, v, _ := strings.Cut(item.Value, "=")
			out[k] = v
		}
	default:
		t.Fatalf("environment: unexpected YAML kind %v", n.Kind)
	}
	return out
}

func TestComposeLingpaiVariablesNameConfigKeys(t *testing.T) {
	c := loadCompose(t)
	known := map[string]bool{}
	for _, k := range config.Keys() {
		known[config.EnvName(k)] = true
	}
	var found int
	for name, svc := range c.Services {
		for k := range environment(t, svc.Environment) {
			if !strings.HasPrefix(k, config.EnvPrefix) {
				continue
			}
			found++
			if !known[k] {
				t.Errorf("service %s: %s names no configuration key", name, k)
			}
		}
	}
	if found == 0 {
		t.Fatal("no LINGPAI_* variable found: is the lingpai service still there?")
	}
}

// TestComposeEnvironmentLoads loads the lingpai service's environment as config.Load would see it
// in the container, with /run/secrets/NAME read from the repository's demo secret files.
func TestComposeEnvironmentLoads(t *testing.T) {
	c := loadCompose(t)
	svc, ok := c.Services["lingpai"]
	if !ok {
		t.Fatal("no lingpai service")
	}
	if svc.DependsOn["db"].Condition != "service_healthy" {
		t.Error("lingpai must wait for db to be healthy (depends_on.db.condition: service_healthy)")
	}
	if db := c.Services["db"]; db.Healthcheck == nil || len(db.Healthcheck.Test) == 0 {
		t.Error("db has no healthcheck")
	}
	var env []string
	for k, v := range environment(t, svc.Environment) {
		if strings.HasPrefix(v, "/run/secrets/") {
			name := strings.TrimPrefix(v, "/run/secrets/")
			if !slices.Contains(svc.Secrets, name) {
				t.Errorf("%s reads secret %s, which the service does not mount", k, name)
			}
			sec, ok := c.Secrets[name]
			if !ok {
				t.Fatalf("secret %s is not declared", name)
			}
			v = filepath.Join("..", sec.File)
		} else if strings.Contains(strings.ToUpper(k), "SECRET") || strings.HasSuffix(k, "_DSN") {
			t.Errorf("%s carries a secret in plain environment; use a *_FILE key and a docker secret", k)
		}
		env = append(env, k+"="+v)
	}
	cfg, err := config.Load("", false, env)
	if err != nil {
		t.Fatalf("compose environment does not load: %v", err)
	}
	tests := []struct{ name, got, want string }{
		{"database.driver", cfg.Database.Driver, "mysql"},
		{"server.admin_addr set (metrics off the public port)", cfg.Server.AdminAddr, "0.0.0.0:9090"},
		{"dsn from the secret file", cfg.Database.DSN, "lingpai:lingpai-dev-only@tcp(db:3306)/lingpai"},
		{"password_ad is configured", func() string {
			if cfg.LDAP == nil {
				return ""
			}
			return cfg.LDAP.URL
		}(), "ldap://ldap:389"},
		{"sms is configured", func() string {
			if cfg.SMS == nil {
				return ""
			}
			return cfg.SMS.Provider
		}(), "log"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	for _, want := range []string{"CGO_ENABLED=0", "USER nonroot", "HEALTHCHECK", `"healthcheck"`, `ENTRYPOINT ["/usr/local/bin/lingpai", "serve"]`, "AS build", `VOLUME ["/var/lib/lingpai"]`, "LINGPAI_DATABASE_DSN=/var/lib/lingpai/lingpai.db", "cli.version=${VERSION}"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}

func TestSeedLDIFHasDemoUsers(t *testing.T) {
	raw, err := os.ReadFile("ldap/seed.ldif")
	if err != nil {
		t.Fatal(err)
	}
	for _, dn := range []string{"dn: uid=alice,ou=people,dc=example,dc=org", "dn: uid=bob,ou=people,dc=example,dc=org", "dn: cn=developers,ou=groups,dc=example,dc=org"} {
		if !strings.Contains(string(raw), dn) {
			t.Errorf("seed.ldif lacks %q", dn)
		}
	}
}

// TestComposeGaleraProfile loads the environment of the galera profile's two lingpai replicas:
// each must list all three nodes, its own node first, read from a mounted secret file.
func TestComposeGaleraProfile(t *testing.T) {
	c := loadCompose(t)
	for svcName, first := range map[string]string{"lingpai-g1": "galera1", "lingpai-g2": "galera2"} {
		svc, ok := c.Services[svcName]
		if !ok {
			t.Fatalf("no %s service", svcName)
		}
		if svc.DependsOn[first].Condition != "service_healthy" {
			t.Errorf("%s must wait for %s to be healthy", svcName, first)
		}
		if node := c.Services[first]; node.Healthcheck == nil || !strings.Contains(strings.Join(node.Healthcheck.Test, " "), "wsrep_ready") {
			t.Errorf("%s: the healthcheck must ask wsrep_ready (a node that answers is not necessarily synced)", first)
		}
		var env []string
		for k, v := range environment(t, svc.Environment) {
			if name, ok := strings.CutPrefix(v, "/run/secrets/"); ok {
				if !slices.Contains(svc.Secrets, name) {
					t.Errorf("%s: %s reads secret %s, which the service does not mount", svcName, k, name)
				}
				v = filepath.Join("..", c.Secrets[name].File)
			}
			env = append(env, k+"="+v)
		}
		cfg, err := config.Load("", false, env)
		if err != nil {
			t.Fatalf("%s: environment does not load: %v", svcName, err)
		}
		if len(cfg.Database.DSNs) != 3 || !strings.Contains(cfg.Database.DSNs[0], "tcp("+first+":3306)") {
			t.Errorf("%s: database.dsns = %q; want the three nodes, %s first", svcName, cfg.Database.DSNs, first)
		}
	}
}
