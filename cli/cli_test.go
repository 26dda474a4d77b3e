package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runWith runs the command line as Main does, with stdin from a string and no terminal.
func runWith(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{ctx: context.Background(), stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, environ: os.Environ()}
	code := e.run(args)
	return out.String(), errb.String(), code
}

func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runWith(t, "", args...)
}

// TestCommandLines is the contract of the command line: each row is what an operator types and
// what they get back (exit code, and a string that must appear on stdout or stderr).
func TestCommandLines(t *testing.T) {
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
		name  string
		stdin string
		args  []string
		code  int
		want  string
	}{
		// Issue 18: the stray word used to stop parsing, so --public was ignored and exit was 0.
		{"stray argument", "", []string{"client", "create", "--config", cfg, "--id", "x1", "--grant-types", "password", "--scopes", "openid", "junk", "--public"}, 2, `unexpected argument "junk"`},
		{"stray argument created nothing", "", []string{"client", "show", "--config", cfg, "x1"}, 1, `no client "x1"`},
		{"group help", "", []string{"client", "-h"}, 0, "rotate-secret"},
		{"help command", "", []string{"help", "user"}, 0, "unlock"},
		{"command help", "", []string{"client", "create", "--help"}, 0, "--secret-stdin"},
		{"go-flag style help", "", []string{"user", "create", "-help"}, 0, "--password-stdin"},
		{"unknown flag", "", []string{"client", "list", "--config", cfg, "--bogus"}, 2, "unknown flag: --bogus"},
		{"unknown command", "", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"unknown subcommand", "", []string{"client", "frob"}, 2, `unknown subcommand "frob"`},
		{"missing subcommand", "", []string{"keys"}, 2, "missing subcommand"},
		{"no command", "", nil, 2, "missing command"},
		{"missing argument", "", []string{"client", "show", "--config", cfg}, 2, "missing client ID"},
		{"bad output format", "", []string{"client", "list", "--config", cfg, "-o", "xml"}, 2, "table or json"},
		{"--version", "", []string{"--version"}, 0, "lingpai dev"},
		{"version json", "", []string{"version", "-o", "json"}, 0, `"version": "dev"`},
		{"completion", "", []string{"completion", "bash"}, 0, "bash completion"},
		{"duplicate client", "", []string{"client", "create", "--config", cfg, "--id", "svc", "--grant-types", "client_credentials"}, 1, "already exists"},
		{"unknown grant", "", []string{"client", "create", "--config", cfg, "--id", "x", "--grant-types", "magic"}, 2, "unknown grant type"},
		{"cors origin with a path", "", []string{"client", "create", "--config", cfg, "--id", "spa", "--grant-types", "authorization_code", "--public", "--redirect-uris", "https://app.example/cb", "--cors-origins", "https://app.example/"}, 2, "--cors-origins"},
		{"public resource server", "", []string{"client", "create", "--config", cfg, "--id", "rs", "--grant-types", "authorization_code", "--public", "--redirect-uris", "https://rs.example/cb", "--can-introspect"}, 2, "--can-introspect: needs a confidential client"},
		{"cors origins", "", []string{"client", "create", "--config", cfg, "--id", "spa", "--grant-types", "authorization_code", "--public", "--redirect-uris", "https://app.example/cb", "--cors-origins", "https://app.example,http://localhost:5173"}, 0, "client_id=spa"},
		{"missing flags", "", []string{"client", "create", "--config", cfg}, 2, "--id and --grant-types are required"},
		{"public client_credentials", "", []string{"client", "create", "--config", cfg, "--id", "p", "--grant-types", "client_credentials", "--public"}, 2, "cannot use client_credentials"},
		{"code without redirect", "", []string{"client", "create", "--config", cfg, "--id", "w", "--grant-types", "authorization_code"}, 2, "--redirect-uris: authorization_code needs"},
		{"public with secret", "", []string{"client", "create", "--config", cfg, "--id", "p", "--grant-types", "password", "--public", "--secret-stdin"}, 2, "has no --secret"},
		{"secret on stdin", "a person's secret\n", []string{"client", "create", "--config", cfg, "--id", "web", "--grant-types", "authorization_code", "--redirect-uris", "https://app/cb", "--secret-stdin"}, 0, "client_id=web"},
		{"show, flags after argument", "", []string{"client", "show", "web", "--config", cfg}, 0, "hashed (slow)"},
		{"show json", "", []string{"client", "show", "--config", cfg, "-o", "json", "svc"}, 0, `"secret": "hashed (generated, fast)"`},
		{"list", "", []string{"client", "list", "--config", cfg}, 0, "client_credentials,refresh_token"},
		{"list json", "", []string{"client", "list", "--config", cfg, "--output=json"}, 0, `"client_id": "web"`},
		{"update", "", []string{"client", "update", "web", "--config", cfg, "--scopes", "openid,profile", "--skip-consent"}, 0, "updated client web"},
		{"update shows", "", []string{"client", "show", "web", "--config", cfg}, 0, "scopes: openid,profile"},
		{"update contradiction", "", []string{"client", "update", "web", "--config", cfg, "--redirect-uris", ""}, 2, "--redirect-uris: authorization_code needs"},
		{"admin client", "", []string{"client", "create", "--config", cfg, "--id", "ops", "--admin"}, 0, "client_id=ops"},
		{"admin client shows", "", []string{"client", "show", "ops", "--config", cfg}, 0, "scopes: lingpai:admin"},
		{"chosen secret too short", "short\n", []string{"client", "create", "--config", cfg, "--id", "w3", "--grant-types", "client_credentials", "--secret-stdin"}, 2, "--secret: a chosen secret has at least 16"},
		{"admin scope beside a user grant", "", []string{"client", "create", "--config", cfg, "--id", "ops2", "--grant-types", "password", "--scopes", "lingpai:admin"}, 2, "--scopes: lingpai:admin is only for"},
		{"relative redirect", "", []string{"client", "create", "--config", cfg, "--id", "w2", "--grant-types", "authorization_code", "--redirect-uris", "/cb"}, 2, "--redirect-uris:"},
		{"update nothing", "", []string{"client", "update", "web", "--config", cfg}, 2, "nothing to change"},
		{"rotate-secret", "", []string{"client", "rotate-secret", "web", "--config", cfg}, 0, "client_secret="},
		{"rotate-secret made it fast", "", []string{"client", "show", "web", "--config", cfg}, 0, "hashed (generated, fast)"},
		{"legacy single-dash flags", "", []string{"client", "show", "-config", cfg, "svc"}, 0, "id: svc"},
		{"user create", "", []string{"user", "create", "--config", cfg, "--username", "Alice", "--password", "wonderland-1", "--phone", "+8613800138000"}, 0, "created user alice"},
		{"user create password stdin", "through-the-glass\n", []string{"user", "create", "--config", cfg, "--username", "carol", "--password-stdin"}, 0, "created user carol"},
		{"user create no way to sign in", "", []string{"user", "create", "--config", cfg, "--username", "dave"}, 2, "no way to sign in"},
		{"both password flags", "x", []string{"user", "create", "--config", cfg, "--username", "dave", "--password", "p", "--password-stdin"}, 2, "mutually exclusive"},
		{"weak password", "", []string{"user", "create", "--config", cfg, "--username", "bob", "--password", "short"}, 1, "at least 8"},
		{"set-password", "", []string{"user", "set-password", "--config", cfg, "--username", "alice", "--password", "new-password-2"}, 0, "password changed"},
		{"set-password by phone from stdin", "newer-password-3\n", []string{"user", "set-password", "--config", cfg, "--phone", "13800138000", "--password-stdin"}, 0, "password changed for alice"},
		{"set-password without password", "", []string{"user", "set-password", "--config", cfg, "--username", "alice"}, 2, "--password-stdin"},
		{"two selectors", "", []string{"user", "show", "--config", cfg, "--username", "alice", "--phone", "+8613800138000"}, 2, "exactly one of"},
		{"disable", "", []string{"user", "disable", "--config", cfg, "--username", "alice"}, 0, "disabled user alice"},
		{"enable by argument", "", []string{"user", "enable", "alice", "--config", cfg}, 0, "enabled user alice"},
		{"show by phone", "", []string{"user", "show", "--config", cfg, "--phone", "+8613800138000", "-o", "json"}, 0, `"username": "alice"`},
		{"update", "", []string{"user", "update", "--config", cfg, "--username", "carol", "--new-email", "carol@example.com", "--name", "Carol"}, 0, "updated user carol"},
		{"show by email", "", []string{"user", "show", "--config", cfg, "--email", "carol@example.com"}, 0, "name: Carol"},
		{"unlock", "", []string{"user", "unlock", "--config", cfg, "carol"}, 0, "carol was not locked"},
		{"user list", "", []string{"user", "list", "--config", cfg}, 0, "+8613800138000"},
		{"user list json", "", []string{"user", "list", "--config", cfg, "-o", "json"}, 0, `"phone_number": "+8613800138000"`},
		{"link-wechat unconfigured app", "", []string{"user", "link-wechat", "--config", cfg, "--username", "alice", "--appid", "wxnope", "--openid", "o1"}, 2, "not configured"},
		{"no such user", "", []string{"user", "show", "--config", cfg, "--sub", "nobody"}, 1, "no user with sub nobody"},
		{"delete user", "", []string{"user", "delete", "--config", cfg, "--email", "carol@example.com"}, 0, "deleted user carol"},
		{"deleted user is gone", "", []string{"user", "show", "--config", cfg, "--username", "carol"}, 1, "no user"},
		{"keys rotate", "", []string{"keys", "rotate", "--config", cfg}, 0, "new active key"},
		{"keys list json", "", []string{"keys", "list", "--config", cfg, "-o", "json"}, 0, `"status": "active"`},
		{"client delete", "", []string{"client", "delete", "--config", cfg, "svc"}, 0, "deleted client svc"},
		{"migrate", "", []string{"migrate", "--config", cfg}, 0, "schema is up to date"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runWith(t, tt.stdin, tt.args...)
			if code != tt.code || !strings.Contains(out+errOut, tt.want) {
				t.Fatalf("exit %d (want %d), output %q, want %q", code, tt.code, out+errOut, tt.want)
			}
		})
	}
	out, _, _ = run(t, "keys", "list", "--config", cfg)
	if strings.Count(out, "RS256") < 1 || !strings.Contains(out, "active") {
		t.Fatalf("keys list: %q", out)
	}
	// keys retire (the admin API's rule, internal/manage): the active key stops signing, a new one takes over.
	active := regexp.MustCompile(`(?m)^(\S+)\s+RS256\s+\S+\s+active`).FindStringSubmatch(out)
	if active == nil {
		t.Fatalf("no active key in %q", out)
	}
	if out, errOut, code := run(t, "keys", "retire", "--config", cfg, active[1]); code != 0 || !strings.Contains(out, "retired kid="+active[1]) {
		t.Fatalf("keys retire: exit %d, %q %q", code, out, errOut)
	}
	if _, errOut, code := run(t, "keys", "retire", "--config", cfg, active[1]); code != 1 || !strings.Contains(errOut, "already retired") {
		t.Fatalf("keys retire twice: exit %d, %q", code, errOut)
	}
	if _, errOut, code := run(t, "keys", "retire", "--config", cfg, "nope"); code != 1 || !strings.Contains(errOut, `no key "nope"`) {
		t.Fatalf("keys retire unknown: exit %d, %q", code, errOut)
	}
	out, _, _ = run(t, "user", "list", "--config", cfg, "-o", "json")
	var users []userView
	if err := json.Unmarshal([]byte(out), &users); err != nil || len(users) != 1 {
		t.Fatalf("user list json: %v, %q", err, out)
	}
}

func TestBadConfigNamesKey(t *testing.T) {
	t.Setenv("LINGPAI_TOKENS_FORMAT", "xml")
	_, errOut, code := run(t, "migrate", "--config", filepath.Join("..", "config.yaml"))
	if code == 0 || !strings.Contains(errOut, "tokens.format") {
		t.Fatalf("exit %d, %q", code, errOut)
	}
}

func TestLegacyArgs(t *testing.T) {
	root := (&env{}).rootCommand()
	tests := []struct{ in, want []string }{
		{[]string{"client", "create", "-id", "x", "-public"}, []string{"client", "create", "--id", "x", "--public"}},
		{[]string{"client", "create", "-config=c.yaml"}, []string{"client", "create", "--config=c.yaml"}},
		{[]string{"client", "create", "--secret", "-id", "-o", "json"}, []string{"client", "create", "--secret", "-id", "-o", "json"}}, // a value is never rewritten
		{[]string{"user", "list", "--", "-name"}, []string{"user", "list", "--", "-name"}},
	}
	for _, tt := range tests {
		if got := legacyArgs(root, tt.in); strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("legacyArgs(%q) = %q, want %q", tt.in, got, tt.want)
		}
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
