package cli

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/lingpai/lingpai/migrations"
	"github.com/lingpai/lingpai/server"
	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/storagetest"
)

// runMigrations is runWith against a given set of migrations (nil: the embedded ones).
func runMigrations(t *testing.T, fsys fs.FS, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{ctx: context.Background(), stdin: strings.NewReader(""), stdout: &out, stderr: &errb, environ: os.Environ(), migrations: fsys}
	code := e.run(args)
	return out.String(), errb.String(), code
}

// withVersion2 is the embedded migrations plus a version 2, as the next release would ship.
func withVersion2(t *testing.T, dialect string) fs.FS {
	t.Helper()
	base, err := migrations.FS(dialect)
	if err != nil {
		t.Fatal(err)
	}
	one, err := fs.ReadFile(base, "00001_initial.sql")
	if err != nil {
		t.Fatal(err)
	}
	return fstest.MapFS{
		"00001_initial.sql": {Data: one},
		"00002_nickname.sql": {Data: []byte("-- +goose Up\nALTER TABLE users ADD COLUMN nickname varchar(64);\n" +
			"-- +goose Down\nALTER TABLE users DROP COLUMN nickname;\n")},
	}
}

func dsnFor(t *testing.T, dialect string) string {
	if dialect == "mysql" {
		return storagetest.MySQLDSN(t)
	}
	return filepath.Join(t.TempDir(), "lingpai.db")
}

// TestMigrateCommands: lingpai migrate says what it applied (issue 18: it said "schema is up to
// date" after creating every table), status and down --to N report and roll back, and every other
// command refuses a schema older or newer than it knows.
func TestMigrateCommands(t *testing.T) {
	cfg := filepath.Join("..", "config.yaml")
	for _, d := range []string{"sqlite", "mysql"} {
		t.Run(d, func(t *testing.T) {
			t.Setenv("LINGPAI_DATABASE_DRIVER", d)
			t.Setenv("LINGPAI_DATABASE_DSN", dsnFor(t, d))
			v2 := withVersion2(t, d)
			steps := []struct {
				name string
				fsys fs.FS
				args []string
				code int
				want string
			}{
				{"status of an empty database", nil, []string{"migrate", "status", "--config", cfg}, 0, "empty database"},
				{"migrate applies", nil, []string{"migrate", "--config", cfg}, 0, "applied   1 00001_initial.sql"},
				{"migrate again", nil, []string{"migrate", "--config", cfg}, 0, "schema is up to date (version 1)"},
				{"status json", nil, []string{"migrate", "status", "--config", cfg, "-o", "json"}, 0, `"version": 1,`},
				{"a newer binary refuses the older schema", v2, []string{"client", "list", "--config", cfg}, 1, "schema is version 1 and this lingpai needs 2: run lingpai migrate first"},
				{"the newer binary migrates", v2, []string{"migrate", "--config", cfg}, 0, "applied   2 00002_nickname.sql"},
				{"the older binary refuses the newer schema", nil, []string{"client", "list", "--config", cfg}, 1, "newer than this lingpai knows (1)"},
				{"status shows both", v2, []string{"migrate", "status", "--config", cfg}, 0, "schema version 2; this lingpai knows 2"},
				{"down --to 1", v2, []string{"migrate", "down", "--config", cfg, "--to", "1"}, 0, "reverted  2 00002_nickname.sql"},
				{"the older binary works again", nil, []string{"client", "list", "--config", cfg}, 0, "GRANT TYPES"},
				{"down without --to", nil, []string{"migrate", "down", "--config", cfg}, 2, "--to N is required"},
				{"down --to 0", nil, []string{"migrate", "down", "--config", cfg, "--to", "0"}, 2, "drops every table"},
			}
			for _, s := range steps {
				out, errOut, code := runMigrations(t, s.fsys, s.args...)
				if code != s.code || !strings.Contains(out+errOut, s.want) {
					t.Fatalf("%s: exit %d (want %d), output %q, want %q", s.name, code, s.code, out+errOut, s.want)
				}
			}
		})
	}
}

// TestMigrateAdoptsPreviousRelease: a database the previous release made with AutoMigrate is
// usable as it is, and lingpai migrate records it as version 1 without touching its rows.
func TestMigrateAdoptsPreviousRelease(t *testing.T) {
	cfg := filepath.Join("..", "config.yaml")
	for _, d := range []string{"sqlite", "mysql"} {
		t.Run(d, func(t *testing.T) {
			dsn := dsnFor(t, d)
			t.Setenv("LINGPAI_DATABASE_DRIVER", d)
			t.Setenv("LINGPAI_DATABASE_DSN", dsn)
			st, err := storage.Open(storage.Options{Driver: d, DSN: dsn})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := st.Migrate(ctx, server.Models()...); err != nil {
				t.Fatal(err)
			}
			if err := st.CreateClient(ctx, &storage.Client{ID: "old", Name: "old", GrantTypes: storage.StringList{"client_credentials"}}); err != nil {
				t.Fatal(err)
			}
			_ = st.Close()
			for _, s := range []struct {
				args []string
				want string
			}{
				{[]string{"migrate", "status", "--config", cfg}, "adopts them as version 1"},
				{[]string{"client", "show", "old", "--config", cfg}, "id: old"},
				{[]string{"migrate", "--config", cfg}, "adopted   1 00001_initial.sql"},
				{[]string{"client", "show", "old", "--config", cfg}, "id: old"},
				{[]string{"migrate", "status", "--config", cfg}, "schema version 1"},
			} {
				out, errOut, code := run(t, s.args...)
				if code != 0 || !strings.Contains(out, s.want) {
					t.Fatalf("%v: exit %d, %q %q, want %q", s.args, code, out, errOut, s.want)
				}
			}
		})
	}
}

// TestBackendWithoutMigrations: a backend whose migrations are not written yet still works (with
// GORM AutoMigrate and a warning), so adding a backend does not wait for its SQL files.
func TestBackendWithoutMigrations(t *testing.T) {
	t.Setenv("LINGPAI_DATABASE_DSN", filepath.Join(t.TempDir(), "x.db"))
	none := fstest.MapFS{"README.md": {Data: []byte("to come")}}
	out, errOut, code := runMigrations(t, none, "client", "list", "--config", filepath.Join("..", "config.yaml"))
	if code != 0 || !strings.Contains(errOut, "using GORM AutoMigrate") || !strings.Contains(out, "GRANT TYPES") {
		t.Fatalf("exit %d, %q %q", code, out, errOut)
	}
	_, errOut, code = runMigrations(t, none, "migrate", "--config", filepath.Join("..", "config.yaml"))
	if code != 1 || !strings.Contains(errOut, "00001_initial.sql") {
		t.Fatalf("migrate: exit %d, %q", code, errOut)
	}
}
