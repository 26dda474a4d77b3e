package cli

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	mysqldrv "github.com/go-sql-driver/mysql"
)

// The SQLite driver reports a missing directory as "out of memory (14)" (SQLITE_CANTOPEN), and a
// MySQL DSN given to it as the same: these checks name the real cause before it gets that far.

var mysqlDSNPattern = regexp.MustCompile(`@(tcp|unix)\(|^[^/]*@/|^mysql://`)

func looksLikeMySQL(dsn string) bool { return mysqlDSNPattern.MatchString(dsn) }

func looksLikePostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") ||
		strings.Contains(dsn, "host=") && strings.Contains(dsn, "dbname=")
}

// sqlitePath is the file a SQLite DSN names ("" for an in-memory database).
func sqlitePath(dsn string) string {
	p, _, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
	if p == "" || p == ":memory:" || strings.Contains(dsn, "mode=memory") {
		return ""
	}
	return p
}

// precheckDSN refuses a DSN that cannot work with the driver, naming the keys to fix.
func precheckDSN(driver, dsn string) error {
	switch driver {
	case "sqlite":
		if looksLikeMySQL(dsn) {
			return errors.New("database.dsn looks like a MySQL DSN but database.driver is sqlite: set database.driver: mysql (LINGPAI_DATABASE_DRIVER=mysql)")
		}
		if looksLikePostgres(dsn) {
			return errors.New("database.dsn looks like a PostgreSQL DSN but database.driver is sqlite")
		}
		p := sqlitePath(dsn)
		if p == "" {
			return nil
		}
		dir := filepath.Dir(p)
		fi, err := os.Stat(dir)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("database.dsn %s: directory %s does not exist (SQLite creates the file, not its directory)", p, dir)
		case err != nil:
			return fmt.Errorf("database.dsn %s: %w", p, err)
		case !fi.IsDir():
			return fmt.Errorf("database.dsn %s: %s is not a directory", p, dir)
		}
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return fmt.Errorf("database.dsn %s is a directory, not a SQLite file", p)
		}
	case "mysql":
		if _, err := mysqldrv.ParseDSN(dsn); err != nil {
			hint := ""
			if !strings.Contains(dsn, "@") && !strings.Contains(dsn, "/") || strings.HasSuffix(dsn, ".db") {
				hint = " (it looks like a SQLite file name: set database.driver: sqlite)"
			}
			return fmt.Errorf("database.dsn is not a MySQL DSN such as user:pass@tcp(host:3306)/lingpai%s: %w", hint, err)
		}
	}
	return nil
}

// explainDBError keeps err but leads with its cause in words an operator can act on.
func explainDBError(driver, dsn string, err error) error {
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1045, 1698: // 1698: MariaDB, for a user that may only sign in through a socket
			return fmt.Errorf("database access denied: check the user and password in database.dsn (%s): %w", describeDSN(driver, dsn), err)
		case 1044:
			return fmt.Errorf("database access denied: the user in database.dsn may not use that database (%s): %w", describeDSN(driver, dsn), err)
		case 1049:
			return fmt.Errorf("database does not exist: create it first (CREATE DATABASE ... CHARACTER SET utf8mb4 COLLATE utf8mb4_bin) (%s): %w", describeDSN(driver, dsn), err)
		}
	}
	var ne *net.OpError
	if errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("cannot reach the database server (%s): %w", describeDSN(driver, dsn), err)
	}
	if driver == "sqlite" {
		msg := err.Error()
		if strings.Contains(msg, "(14)") || strings.Contains(msg, "unable to open") {
			return fmt.Errorf("cannot open SQLite file %s (check that its directory exists and is writable): %w", sqlitePath(dsn), err)
		}
		if strings.Contains(msg, "readonly") || strings.Contains(msg, "(8)") {
			return fmt.Errorf("SQLite file %s is read-only for this user: %w", sqlitePath(dsn), err)
		}
	}
	return err
}

// describeDSN names a database without its password: the absolute SQLite path, or MySQL's
// user@address/dbname.
func describeDSN(driver, dsn string) string {
	switch driver {
	case "sqlite":
		p := sqlitePath(dsn)
		if p == "" {
			return "(in memory)"
		}
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
		return p
	case "mysql":
		c, err := mysqldrv.ParseDSN(dsn)
		if err != nil {
			return "(unparsable DSN)"
		}
		return fmt.Sprintf("%s@%s(%s)/%s", c.User, c.Net, c.Addr, c.DBName)
	}
	return "(DSN hidden)"
}
