package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	mysqldrv "github.com/go-sql-driver/mysql"
)

// TestSaysWhichConfigAndDatabase: every command names its configuration file and database on
// stderr, and says so when there is no configuration file and defaults are used.
func TestSaysWhichConfigAndDatabase(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, k := range []string{"LINGPAI_DATABASE_DSN", "LINGPAI_DATABASE_DRIVER"} {
		if v, ok := os.LookupEnv(k); ok {
			t.Setenv(k, v)
			os.Unsetenv(k)
		}
	}
	_, errOut, code := run(t, "client", "list")
	want := "lingpai: no config file (" + filepath.Join(dir, "config.yaml") + " not found): using defaults; database sqlite " + filepath.Join(dir, "lingpai.db")
	if first, _, _ := strings.Cut(errOut, "\n"); code != 0 || first != want {
		t.Fatalf("exit %d, stderr %q, want first line %q", code, errOut, want)
	}

	cfg := filepath.Join(dir, "lingpai.yaml")
	if err := os.WriteFile(cfg, []byte("database:\n  dsn: other.db\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LINGPAI_LOG_LEVEL", "warn")
	_, errOut, code = run(t, "keys", "list", "--config", cfg)
	want = "lingpai: config " + cfg + " and LINGPAI_LOG_LEVEL; database sqlite " + filepath.Join(dir, "other.db")
	if code != 0 || !strings.Contains(errOut, want) {
		t.Fatalf("exit %d, stderr %q, want %q", code, errOut, want)
	}
}

// TestDatabaseErrorsNameTheCause: the SQLite driver says "out of memory (14)" for all of these.
func TestDatabaseErrorsNameTheCause(t *testing.T) {
	tests := []struct {
		name, driver, dsn, want string
	}{
		{"missing directory", "sqlite", "/nonexistent/dir/x.db", "directory /nonexistent/dir does not exist"},
		{"MySQL DSN on sqlite", "sqlite", "lingpai:pw@tcp(db:3306)/lingpai", "looks like a MySQL DSN but database.driver is sqlite"},
		{"directory as file", "sqlite", os.TempDir(), "is a directory"},
		{"file name on mysql", "mysql", "lingpai.db", "not a MySQL DSN"},
	}
	if dsn := os.Getenv("LINGPAI_TEST_MYSQL_DSN"); dsn != "" {
		c, err := mysqldrv.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		c.User, c.Passwd = "lingpai_nobody", "wrong"
		tests = append(tests, struct{ name, driver, dsn, want string }{"access denied", "mysql", c.FormatDSN(), "database access denied: check the user and password in database.dsn"})
	} else {
		t.Log("LINGPAI_TEST_MYSQL_DSN unset: access-denied case not run")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("LINGPAI_DATABASE_DRIVER", tt.driver)
			t.Setenv("LINGPAI_DATABASE_DSN", tt.dsn)
			_, errOut, code := run(t, "migrate", "--config", filepath.Join("..", "config.yaml"))
			if code != 1 || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stderr %q, want %q", code, errOut, tt.want)
			}
			if strings.Contains(errOut, "wrong") {
				t.Fatalf("password leaked: %q", errOut)
			}
		})
	}
}
