package cli

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/lingpai/lingpai/migrations"
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

// withNext is the embedded migrations plus one more (a nickname column), as the next release
// would ship; latest is the embedded migrations' last version.
func withNext(t *testing.T, dialect string) (fsys fs.FS, latest int) {
	t.Helper()
	base, err := migrations.FS(dialect)
	if err != nil {
		t.Fatal(err)
	}
	out := fstest.MapFS{}
	names, err := fs.Glob(base, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		b, err := fs.ReadFile(base, n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = &fstest.MapFile{Data: b}
	}
	// The last file's number, not the count: versions may have a gap while a branch adds 5 before 4.
	if len(names) > 0 {
		if _, err := fmt.Sscanf(names[len(names)-1], "%05d_", &latest); err != nil {
			t.Fatal(err)
		}
	}
	out[fmt.Sprintf("%05d_nickname.sql", latest+1)] = &fstest.MapFile{Data: []byte("-- +goose Up\nALTER TABLE users ADD COLUMN nickname varchar(64);\n" +
		"-- +goose Down\nALTER TABLE users DROP COLUMN nickname;\n")}
	return out, latest
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
			next, l := withNext(t, d)
			n := l + 1
			nick := fmt.Sprintf("%d %05d_nickname.sql", n, n)
			steps := []struct {
				name string
				fsys fs.FS
				args []string
				code int
				want string
			}{
				{"status of an empty database", nil, []string{"migrate", "status", "--config", cfg}, 0, "empty database"},
				{"migrate applies", nil, []string{"migrate", "--config", cfg}, 0, "applied   1 00001_initial.sql"},
				{"migrate again", nil, []string{"migrate", "--config", cfg}, 0, fmt.Sprintf("schema is up to date (version %d)", l)},
				{"status json", nil, []string{"migrate", "status", "--config", cfg, "-o", "json"}, 0, fmt.Sprintf(`"version": %d,`, l)},
				{"a newer binary refuses the older schema", next, []string{"client", "list", "--config", cfg}, 1, fmt.Sprintf("schema is version %d and this lingpai needs %d: run lingpai migrate first", l, n)},
				{"the newer binary migrates", next, []string{"migrate", "--config", cfg}, 0, "applied   " + nick},
				{"the older binary refuses the newer schema", nil, []string{"client", "list", "--config", cfg}, 1, fmt.Sprintf("newer than this lingpai knows (%d)", l)},
				{"status shows both", next, []string{"migrate", "status", "--config", cfg}, 0, fmt.Sprintf("schema version %d; this lingpai knows %d", n, n)},
				{"down to the release", next, []string{"migrate", "down", "--config", cfg, "--to", fmt.Sprint(l)}, 0, "reverted  " + nick},
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

// TestMigrateAdoptsPreviousRelease: a database the last release before goose made with
// AutoMigrate is recorded as version 1 without touching its rows, then brought up to date.
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
			db, err := st.DB(ctx).DB()
			if err != nil {
				t.Fatal(err)
			}
			if err := migrations.LegacySchema(ctx, db, d); err != nil {
				t.Fatal(err)
			}
			if err := migrations.LegacyRows(ctx, db, d, "old"); err != nil {
				t.Fatal(err)
			}
			_ = st.Close()
			_, latest := withNext(t, d)
			for _, s := range []struct {
				args []string
				want string
			}{
				{[]string{"migrate", "status", "--config", cfg}, "adopts them as version 1"},
				{[]string{"migrate", "--config", cfg}, "adopted   1 00001_initial.sql"},
				{[]string{"client", "show", "old", "--config", cfg}, "id: old"},
				{[]string{"migrate", "status", "--config", cfg}, fmt.Sprintf("schema version %d", latest)},
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
