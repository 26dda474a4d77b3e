package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestAdminCommands(t *testing.T) {
	t.Setenv("LINGPAI_DATABASE_DSN", filepath.Join(t.TempDir(), "cli.db"))
	cfg := filepath.Join("..", "config.yaml")

	out, _, code := run(t, "client", "create", "--config", cfg, "--id", "svc", "--grant-types", "client_credentials,refresh_token", "--scopes", "api1,api2")
	if code != 0 {
		t.Fatalf("client create exit %d", code)
	}
	m := regexp.MustCompile(`(?m)^client_secret=(\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no client_secret= line in %q", out)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(m[1]); err != nil || len(raw) < 32 {
		t.Fatalf("generated secret has %d bytes, want >= 32 (256 bits)", len(raw))
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"duplicate client", []string{"client", "create", "--config", cfg, "--id", "svc", "--grant-types", "client_credentials"}, 1, "already exists"},
		{"unknown grant", []string{"client", "create", "--config", cfg, "--id", "x", "--grant-types", "magic"}, 1, "unknown grant type"},
		{"missing flags", []string{"client", "create", "--config", cfg}, 2, "--id and --grant-types are required"},
		{"show", []string{"client", "show", "--config", cfg, "svc"}, 0, "hashed (generated, fast)"},
		{"list", []string{"client", "list", "--config", cfg}, 0, "client_credentials,refresh_token"},
		{"user create", []string{"user", "create", "--config", cfg, "--username", "Alice", "--password", "wonderland-1", "--phone", "+8613800138000"}, 0, "created user alice"},
		{"weak password", []string{"user", "create", "--config", cfg, "--username", "bob", "--password", "short"}, 1, "at least 8"},
		{"set-password", []string{"user", "set-password", "--config", cfg, "--username", "alice", "--password", "new-password-2"}, 0, "password changed"},
		{"disable", []string{"user", "disable", "--config", cfg, "--username", "alice"}, 0, "disabled user alice"},
		{"user list", []string{"user", "list", "--config", cfg}, 0, "+8613800138000"},
		{"keys rotate", []string{"keys", "rotate", "--config", cfg}, 0, "new active key"},
		{"client delete", []string{"client", "delete", "--config", cfg, "svc"}, 0, "deleted client svc"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"migrate", []string{"migrate", "--config", cfg}, 0, "schema is up to date"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := run(t, tt.args...)
			if code != tt.code || !strings.Contains(out+errOut, tt.want) {
				t.Fatalf("exit %d (want %d), output %q, want %q", code, tt.code, out+errOut, tt.want)
			}
		})
	}
	out, _, _ = run(t, "keys", "list", "--config", cfg)
	if strings.Count(out, "RS256") < 1 || !strings.Contains(out, "active") {
		t.Fatalf("keys list: %q", out)
	}
}

func TestBadConfigNamesKey(t *testing.T) {
	t.Setenv("LINGPAI_TOKENS_FORMAT", "xml")
	_, errOut, code := run(t, "migrate", "--config", filepath.Join("..", "config.yaml"))
	if code == 0 || !strings.Contains(errOut, "tokens.format") {
		t.Fatalf("exit %d, %q", code, errOut)
	}
}

// keys reencrypt seals the rows written before security.secrets was set; without a secret it
// refuses, naming the key.
func TestKeysReencrypt(t *testing.T) {
	t.Setenv("LINGPAI_DATABASE_DSN", filepath.Join(t.TempDir(), "cli.db"))
	cfg := filepath.Join("..", "config.yaml")
	if _, _, code := run(t, "keys", "rotate", "--config", cfg); code != 0 {
		t.Fatalf("keys rotate exit %d", code)
	}
	if _, errOut, code := run(t, "keys", "reencrypt", "--config", cfg); code == 0 || !strings.Contains(errOut, "security.secrets") {
		t.Fatalf("without a secret: exit %d %q", code, errOut)
	}
	t.Setenv("LINGPAI_SECURITY_SECRETS", strings.Repeat("s", 32))
	if out, errOut, code := run(t, "keys", "reencrypt", "--config", cfg); code != 0 || !strings.Contains(out, "re-encrypted 1 rows") {
		t.Fatalf("reencrypt: exit %d %q %q", code, out, errOut)
	}
	if out, _, code := run(t, "keys", "list", "--config", cfg); code != 0 || !strings.Contains(out, "active") {
		t.Fatalf("keys list after reencrypt: %d %q", code, out)
	}
}
