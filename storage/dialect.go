package storage

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/schema"
)

// Drivers are the values database.driver accepts.
var Drivers = []string{"sqlite", "mysql", "postgres"}

// dialector builds the GORM dialector of a driver, forcing the DSN settings the schema relies on.
// lazy (for a list of DSNs, where a server may be down at start) keeps the MySQL dialector from
// asking the server's version while opening.
func dialector(driver, dsn string, lazy bool, queryTimeout time.Duration) (gorm.Dialector, error) {
	switch driver {
	case "sqlite":
		return sqlite.Open(sqliteDSN(dsn, queryTimeout)), nil
	case "mysql":
		dsn, err := mysqlDSN(dsn, queryTimeout)
		if err != nil {
			return nil, err
		}
		return mysql.New(mysql.Config{DSN: dsn, SkipInitializeWithVersion: lazy}), nil
	case "postgres":
		dsn, err := postgresDSN(dsn)
		if err != nil {
			return nil, err
		}
		return pgDialector{postgres.Open(dsn).(*postgres.Dialector)}, nil
	default:
		return nil, fmt.Errorf("storage: unknown driver %q (want one of %s)", driver, strings.Join(Drivers, ", "))
	}
}

// sqliteDSN adds lingpai's pragmas; a locked file waits at most the query timeout.
func sqliteDSN(dsn string, queryTimeout time.Duration) string {
	if strings.Contains(dsn, "_pragma") {
		return dsn
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + fmt.Sprintf("_pragma=busy_timeout(%d)&", queryTimeout.Milliseconds()) + "_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(0)"
}

// mysqlDSN forces the settings the schema relies on: UTC times parsed into time.Time. Dial, read
// and write timeouts default to the query timeout: COMMIT and ROLLBACK take no context in the
// driver, so only a socket deadline stops them hanging on a frozen server.
func mysqlDSN(dsn string, queryTimeout time.Duration) (string, error) {
	cfg, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("storage: database.dsn: %w", err)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	// A second over the query timeout: the statement's own deadline fires first and spends the
	// request's budget (a socket timeout racing it would leave the budget unspent).
	for _, d := range []*time.Duration{&cfg.Timeout, &cfg.ReadTimeout, &cfg.WriteTimeout} {
		if *d == 0 {
			*d = queryTimeout + time.Second
		}
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	if _, ok := cfg.Params["charset"]; !ok {
		cfg.Params["charset"] = "utf8mb4"
	}
	return cfg.FormatDSN(), nil
}

// postgresDSN checks a PostgreSQL DSN (URL or key=value form) and makes the session time zone UTC,
// so that timestamptz values come back in UTC whatever the server's default is.
func postgresDSN(dsn string) (string, error) {
	cfg, err := parsePostgres(dsn)
	if err != nil {
		return "", fmt.Errorf("storage: database.dsn: %w", err)
	}
	if _, ok := cfg.RuntimeParams["timezone"]; ok || strings.Contains(strings.ToLower(dsn), "timezone=") {
		return dsn, nil
	}
	if strings.Contains(dsn, "://") {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		return dsn + sep + "timezone=UTC", nil
	}
	return dsn + " timezone=UTC", nil
}

// pgDialector is GORM's PostgreSQL dialector with the models' MySQL-flavoured binary column types
// (blob, mediumblob, varbinary(n)) mapped to bytea. The models keep their MySQL types so existing
// MySQL schemas see no column change; PostgreSQL has one binary type.
type pgDialector struct{ *postgres.Dialector }

var mysqlBinary = regexp.MustCompile(`^(?i)(tiny|medium|long)?blob$|^(?i)varbinary\(\d+\)$`)

// DataTypeOf implements gorm.Dialector.
func (d pgDialector) DataTypeOf(f *schema.Field) string {
	if mysqlBinary.MatchString(string(f.DataType)) {
		return "bytea"
	}
	return d.Dialector.DataTypeOf(f)
}

// Migrator implements gorm.Dialector, so that the migrator asks this DataTypeOf.
func (d pgDialector) Migrator(db *gorm.DB) gorm.Migrator {
	m := d.Dialector.Migrator(db).(postgres.Migrator)
	m.Dialector = d
	return m
}

// galeraSyncWait is the wsrep_sync_wait lingpai sets on a Galera node: 1 (reads) + 2 (UPDATE and
// DELETE) wait until the node has applied every write set the cluster had committed when the
// statement started. Without it a replica on another node can read a token as still active a few
// milliseconds after it was revoked, or revoke a family before the row of its newest token has
// arrived. INSERTs need no wait: their conflicts are caught by certification.
const galeraSyncWait = "3"

func parsePostgres(dsn string) (*pgx.ConnConfig, error) { return pgx.ParseConfig(dsn) }
