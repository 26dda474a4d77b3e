// Package storagetest opens throw-away stores for tests: SQLite in a temp dir always, MySQL in a
// fresh database on the server named by LINGPAI_TEST_MYSQL_DSN, and PostgreSQL in a fresh
// database on the server named by LINGPAI_TEST_POSTGRES_DSN.
package storagetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for creating test databases

	"github.com/lingpai/lingpai/storage"
)

// MySQLEnv names the variable that points the tests at a MySQL/MariaDB server.
const MySQLEnv = "LINGPAI_TEST_MYSQL_DSN"

// SkipMessage starts the message of a MySQL test skipped for want of a server; .ci/run fails on it.
const SkipMessage = "MYSQL TEST SKIPPED: " + MySQLEnv + " is not set"

// Backend is a named way to open a fresh, migrated store.
type Backend struct {
	Name string
	Open func(t testing.TB, opts storage.Options, extra ...any) *storage.Store
}

// PostgresEnv names the variable that points the tests at a PostgreSQL server, e.g.
// postgres://root@127.0.0.1:5432/postgres?sslmode=disable (the role needs CREATEDB).
const PostgresEnv = "LINGPAI_TEST_POSTGRES_DSN"

// PostgresSkipMessage starts the message of a PostgreSQL test skipped for want of a server; .ci/run
// fails on every skip.
const PostgresSkipMessage = "POSTGRES TEST SKIPPED: " + PostgresEnv + " is not set"

// Backends returns SQLite, MySQL and PostgreSQL. The server-backed ones skip (loudly) without a DSN.
func Backends() []Backend {
	return []Backend{{"sqlite", OpenSQLite}, {"mysql", OpenMySQL}, {"postgres", OpenPostgres}}
}

// OpenSQLite opens a migrated SQLite store in t.TempDir().
func OpenSQLite(t testing.TB, opts storage.Options, extra ...any) *storage.Store {
	t.Helper()
	opts.Driver = "sqlite"
	opts.DSN = filepath.Join(t.TempDir(), "lingpai.db")
	return open(t, opts, extra)
}

// MySQLDSN creates a fresh database on the test server and returns its DSN; it is dropped when
// the test ends.
func MySQLDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(MySQLEnv)
	if base == "" {
		t.Skip(SkipMessage)
	}
	cfg, err := mysqldrv.ParseDSN(base)
	if err != nil {
		t.Fatalf("%s: %v", MySQLEnv, err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "lingpai_t_" + hex.EncodeToString(b)
	admin := cfg.Clone()
	admin.DBName = ""
	db, err := sql.Open("mysql", admin.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		_, _ = db.Exec("DROP DATABASE IF EXISTS " + name)
		_ = db.Close()
	})
	cfg.DBName = name
	return cfg.FormatDSN()
}

// OpenMySQL opens a migrated store in a fresh MySQL database.
func OpenMySQL(t testing.TB, opts storage.Options, extra ...any) *storage.Store {
	t.Helper()
	opts.Driver = "mysql"
	opts.DSN = MySQLDSN(t)
	return open(t, opts, extra)
}

// PostgresDSN creates a fresh database on the PostgreSQL test server and returns its DSN; it is
// dropped (with its connections) when the test ends.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		t.Skip(PostgresSkipMessage)
	}
	if _, err := pgx.ParseConfig(base); err != nil {
		t.Fatalf("%s: %v", PostgresEnv, err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "lingpai_t_" + hex.EncodeToString(b)
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name+" ENCODING 'UTF8' TEMPLATE template0"); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		_, _ = db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		_ = db.Close()
	})
	dsn, err := withDBName(base, name)
	if err != nil {
		t.Fatalf("%s: %v", PostgresEnv, err)
	}
	return dsn
}

// withDBName points a PostgreSQL DSN (URL or key=value form) at database name.
func withDBName(dsn, name string) (string, error) {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		return u.String(), nil
	}
	return dsn + " dbname=" + name, nil // key=value: a later key wins
}

// OpenPostgres opens a migrated store in a fresh PostgreSQL database.
func OpenPostgres(t testing.TB, opts storage.Options, extra ...any) *storage.Store {
	t.Helper()
	opts.Driver = "postgres"
	opts.DSN = PostgresDSN(t)
	return open(t, opts, extra)
}

func open(t testing.TB, opts storage.Options, extra []any) *storage.Store {
	t.Helper()
	s, err := storage.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(context.Background(), extra...); err != nil {
		t.Fatal(err)
	}
	return s
}
