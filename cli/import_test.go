package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lingpai/lingpai/internal/is4import/is4test"
)

func TestImportIdentityServer4(t *testing.T) {
	t.Setenv("LINGPAI_DATABASE_DSN", filepath.Join(t.TempDir(), "cli.db"))
	cfg := filepath.Join("..", "config.yaml")
	src := is4test.New(t, "sqlite")
	is4test.Seed(t, src)
	source := []string{"import", "identityserver4", "--config", cfg, "--source-driver", "sqlite", "--source-dsn", src.DSN}
	with := func(extra ...string) []string { return append(append([]string(nil), source...), extra...) }
	base := with("--wechat-providers", "Weixin=oauth:wxWEB")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"dry run", with("--dry-run"), 0, "clients:   read 5, imported 3, updated 0, skipped 2"},
		{"only users", with("--only", "users"), 0, "users:     read 6, imported 5"},
		{"all", base, 0, "users:     read 6, imported 0, updated 5"},
		{"bad kind", with("--only", "tokens"), 1, `unknown kind "tokens"`},
		{"bad wechat spec", with("--wechat-providers", "WeChat=openid"), 2, "need the AppID"},
		{"no source", []string{"import", "identityserver4", "--config", cfg}, 2, "--source-driver and --source-dsn are required"},
		{"other source", []string{"import", "keycloak"}, 2, `unknown subcommand "keycloak"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := run(t, tt.args...)
			if code != tt.code || !strings.Contains(out+errOut, tt.want) {
				t.Fatalf("exit %d (want %d), output lacks %q:\n%s%s", code, tt.code, tt.want, out, errOut)
			}
		})
	}
}

// TestImportPKCS12WrongPassword: a .pfx made by openssl with a wrong password file is one clear
// line naming the file (no stack trace), and nothing is imported.
func TestImportPKCS12WrongPassword(t *testing.T) {
	pfx := is4test.OpenSSLPFX(t, "right-password")
	wrong := filepath.Join(t.TempDir(), "wrong.txt")
	if err := os.WriteFile(wrong, []byte("wrong-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LINGPAI_DATABASE_DSN", filepath.Join(t.TempDir(), "cli.db"))
	src := is4test.New(t, "sqlite")
	is4test.Seed(t, src)
	args := []string{"import", "identityserver4", "--config", filepath.Join("..", "config.yaml"), "--source-driver", "sqlite", "--source-dsn", src.DSN,
		"--signing-key", pfx.Path, "--signing-key-password-file", wrong}
	out, errOut, code := run(t, args...)
	want := "--signing-key " + pfx.Path + ": is4import: signing key: wrong PKCS#12 password"
	if code != 1 || !strings.Contains(errOut, want) || strings.Contains(out+errOut, "goroutine") || strings.TrimSpace(out) != "" {
		t.Fatalf("exit %d, want 1 and %q, nothing imported:\n%s%s", code, want, out, errOut)
	}
}
