package is4import

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	_ "github.com/glebarez/go-sqlite" // database/sql driver "sqlite"
	mysqldrv "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// source is the IS4 database, read inside one read-only transaction so every kind sees the
// same snapshot and nothing can be written by mistake.
type source struct {
	db      *sql.DB
	tx      *sql.Tx
	driver  string
	opts    *Options
	version string // "v3" or "v4"
	tables  map[string]bool
}

var skorubaTables = map[string]string{
	"AspNetUsers": "Users", "AspNetRoles": "Roles", "AspNetUserRoles": "UserRoles",
	"AspNetUserClaims": "UserClaims", "AspNetUserLogins": "UserLogins",
}

func openSource(ctx context.Context, o *Options) (*source, error) {
	dsn := o.SourceDSN
	switch o.SourceDriver {
	case "sqlite":
		// query_only makes SQLite itself refuse every write on this connection.
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		dsn += sep + "_pragma=query_only(1)"
	case "mysql":
		cfg, err := mysqldrv.ParseDSN(dsn)
		if err != nil {
			return nil, fmt.Errorf("is4import: --source-dsn: %w", err)
		}
		cfg.ParseTime, cfg.Loc = true, time.UTC
		dsn = cfg.FormatDSN()
	}
	driverName := o.SourceDriver
	if driverName == "postgres" {
		driverName = "pgx"
	}
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("is4import: open source: %w", err)
	}
	db.SetMaxOpenConns(1)
	txo := &sql.TxOptions{ReadOnly: true}
	if o.SourceDriver == "sqlite" {
		txo = nil // the driver has no read-only transactions; query_only above does the job
	}
	tx, err := db.BeginTx(ctx, txo)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("is4import: source: %w", err)
	}
	return &source{db: db, tx: tx, driver: o.SourceDriver, opts: o, tables: map[string]bool{}}, nil
}

func (s *source) close() {
	_ = s.tx.Rollback()
	_ = s.db.Close()
}

// name is the source's name for one of IS4's default table names.
func (s *source) name(table string) string {
	if n, ok := s.opts.TableMap[table]; ok {
		return n
	}
	if s.opts.Preset == "skoruba" {
		if n, ok := skorubaTables[table]; ok {
			return s.opts.TablePrefix + n
		}
	}
	return s.opts.TablePrefix + table
}

// q quotes an identifier: double quotes on PostgreSQL (EF's PascalCase names need them),
// backticks on MySQL and SQLite. Not double quotes on SQLite: there a double-quoted name that is
// no column silently becomes a string literal, so a probe for a missing column would succeed.
func (s *source) q(id string) string {
	if s.driver != "postgres" {
		return "`" + strings.ReplaceAll(id, "`", "``") + "`"
	}
	return `"` + strings.ReplaceAll(id, `"`, `""`) + `"`
}

// placeholder is the n-th bind parameter in the source's dialect.
func (s *source) placeholder(n int) string {
	if s.driver == "postgres" {
		return fmt.Sprintf("$%d", n)
	}
	return "?"
}

// t is the quoted source name of a default table name.
func (s *source) t(table string) string { return s.q(s.name(table)) }

// has reports whether a table exists (by its name in the source).
func (s *source) has(ctx context.Context, table string) bool {
	if ok, seen := s.tables[table]; seen {
		return ok
	}
	ok := s.probe(ctx, s.name(table), "")
	s.tables[table] = ok
	return ok
}

// hasColumn reports whether a table has a column (v3 lacks some of v4's).
func (s *source) hasColumn(ctx context.Context, table, col string) bool {
	key := table + "." + col
	if ok, seen := s.tables[key]; seen {
		return ok
	}
	ok := s.probe(ctx, s.name(table), col)
	s.tables[key] = ok
	return ok
}

// probe looks for a table (and column). PostgreSQL aborts a transaction at its first failed
// statement, so there it asks information_schema; elsewhere selecting nothing is enough.
func (s *source) probe(ctx context.Context, table, col string) bool {
	if s.driver == "postgres" {
		q := "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1"
		args := []any{table}
		if col != "" {
			q += " AND column_name = $2"
			args = append(args, col)
		}
		var n int
		return s.tx.QueryRowContext(ctx, q, args...).Scan(&n) == nil && n > 0
	}
	what := "1"
	if col != "" {
		what = s.q(col)
	}
	rows, err := s.tx.QueryContext(ctx, "SELECT "+what+" FROM "+s.q(table)+" WHERE 1=0")
	if err == nil {
		rows.Close()
	}
	return err == nil
}

// detect tells v3 from v4 by their table sets and fails, naming what is missing, when the
// source is not IdentityServer4 at all.
func (s *source) detect(ctx context.Context) error {
	var missing []string
	need := map[string][]string{
		"clients":   {"Clients", "ClientSecrets", "ClientGrantTypes", "ClientScopes", "ClientRedirectUris", "ClientPostLogoutRedirectUris", "ClientCorsOrigins", "ClientClaims"},
		"resources": {"ApiResources", "ApiScopes", "IdentityResources"},
		"users":     {"AspNetUsers", "AspNetUserClaims", "AspNetRoles", "AspNetUserRoles", "AspNetUserLogins"},
		"grants":    {"PersistedGrants"},
		"consents":  {"PersistedGrants"},
	}
	for _, kind := range Kinds {
		if !s.opts.wants(kind) {
			continue
		}
		for _, t := range need[kind] {
			if !s.has(ctx, t) {
				missing = append(missing, s.name(t))
			}
		}
	}
	switch {
	case s.has(ctx, "ApiResourceScopes"):
		s.version = "v4"
	case s.has(ctx, "ApiSecrets") || s.has(ctx, "IdentityClaims") || s.has(ctx, "PersistedGrants") && !s.hasColumn(ctx, "PersistedGrants", "ConsumedTime"):
		s.version = "v3"
	case !s.has(ctx, "Clients") && !s.has(ctx, "PersistedGrants"):
		missing = append(missing, s.name("ApiResourceScopes")+" or "+s.name("ApiSecrets"))
	default:
		s.version = "v4"
	}
	if len(missing) > 0 {
		return fmt.Errorf("is4import: the source is not an IdentityServer4 database (or needs --table-prefix/--table-map/--preset): missing %s", strings.Join(missing, ", "))
	}
	return nil
}

// count returns the number of rows a query will return, for progress and ETA.
func (s *source) count(ctx context.Context, from string) int {
	var n int
	if err := s.tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+from).Scan(&n); err != nil {
		return 0
	}
	return n
}

// each runs fn for every row of query; fn scans the row.
func (s *source) each(ctx context.Context, query string, fn func(*sql.Rows) error) error {
	rows, err := s.tx.QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("is4import: read source: %w (query %s)", err, query)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("is4import: read source: %w", err)
	}
	return nil
}

// nullTime scans the time types of every driver: time.Time, or text in the layouts SQLite
// and SQL Server exports use. IS4 writes UTC and stores no offset (datetime2), so a time
// without one is UTC.
type nullTime struct {
	Time  time.Time
	Valid bool
}

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05.9999999Z07:00", "2006-01-02 15:04:05.9999999", "2006-01-02T15:04:05.9999999", "2006-01-02 15:04:05.999999999 -0700 MST", "2006-01-02"}

func (n *nullTime) Scan(src any) error {
	n.Valid = false
	var str string
	switch v := src.(type) {
	case nil:
		return nil
	case time.Time:
		n.Time, n.Valid = v.UTC(), true
		return nil
	case string:
		str = v
	case []byte:
		str = string(v)
	default:
		return fmt.Errorf("is4import: time from %T", src)
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, str); err == nil {
			n.Time, n.Valid = t.UTC(), true
			return nil
		}
	}
	return fmt.Errorf("is4import: unreadable time %q", str)
}

func (n nullTime) ptr() *time.Time {
	if !n.Valid {
		return nil
	}
	t := n.Time
	return &t
}

// nullString scans any driver's text (including []byte and NULL).
type nullString struct{ sql.NullString }

func (n nullString) String() string { return n.NullString.String }
