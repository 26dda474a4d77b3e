// Package storagetest opens throw-away stores for tests: SQLite in a temp dir always, and MySQL in
// a fresh database on the server named by LINGPAI_TEST_MYSQL_DSN.
package storagetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

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

// Backends returns SQLite and MySQL. The MySQL one skips (loudly) without a DSN.
func Backends() []Backend {
	return []Backend{{"sqlite", OpenSQLite}, {"mysql", OpenMySQL}}
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
