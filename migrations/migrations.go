// Package migrations is lingpai's versioned schema: numbered SQL files per dialect (sqlite, mysql,
// postgres), embedded in the binary and applied with github.com/pressly/goose. Why goose: plain
// SQL files a DBA can read and run by hand, a Go API with no global state (goose.Provider), and
// locking that keeps replicas starting together from migrating twice: a lease row on MySQL (no
// GET_LOCK, which Galera does not share between nodes), an advisory lock on PostgreSQL. SQLite is
// one process by nature and takes no lock.
//
// A new schema change is a new file NNNNN_what.sql in each dialect's folder, plus the model change;
// TestMigrationsMatchModels fails until both agree.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"
)

//go:embed sqlite/*.sql mysql/*.sql postgres baseline
var files embed.FS

// ErrNoMigrations: the dialect's folder has no migrations yet (a backend being added).
var ErrNoMigrations = errors.New("migrations: no migrations for this database")

// VersionTable is goose's bookkeeping table.
const VersionTable = "goose_db_version"

// lockTable is the MySQL lease row goose's table locker uses.
const lockTable = "goose_lock"

// FS returns the migrations of one dialect (sqlite, mysql or postgres).
func FS(dialect string) (fs.FS, error) {
	d, err := gooseDialect(dialect)
	if err != nil {
		return nil, err
	}
	dir := dialect
	if d == goose.DialectPostgres {
		dir = "postgres"
	}
	return fs.Sub(files, dir)
}

func gooseDialect(d string) (goose.Dialect, error) {
	switch d {
	case "sqlite":
		return goose.DialectSQLite3, nil
	case "mysql":
		return goose.DialectMySQL, nil
	case "postgres", "postgresql", "pgx":
		return goose.DialectPostgres, nil
	}
	return "", fmt.Errorf("migrations: unknown dialect %q", d)
}

// Migrator applies and reports migrations on one database.
type Migrator struct {
	db       *sql.DB
	dialect  string
	provider *goose.Provider
	store    database.Store
	locker   any // lock.Locker, lock.SessionLocker or nil
	logger   *slog.Logger
	latest   int64
}

// Options tunes New; the zero value is production's.
type Options struct {
	// FS replaces the embedded migrations (tests add a version 2).
	FS fs.FS
	// LockPoll is how often a replica waiting for another's migration looks again (default 5s).
	LockPoll time.Duration
	Logger   *slog.Logger
}

// New prepares a Migrator; it does not touch the database.
func New(db *sql.DB, dialect string, opts Options) (*Migrator, error) {
	gd, err := gooseDialect(dialect)
	if err != nil {
		return nil, err
	}
	if gd == goose.DialectPostgres {
		dialect = "postgres" // whatever the storage driver is called
	}
	fsys := opts.FS
	if fsys == nil {
		if fsys, err = FS(dialect); err != nil {
			return nil, err
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.LockPoll <= 0 {
		opts.LockPoll = 5 * time.Second
	}
	m := &Migrator{db: db, dialect: dialect, logger: opts.Logger}
	popts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	switch dialect {
	case "mysql":
		l, err := lock.NewMySQLTableLocker(lock.WithTableName(lockTable),
			lock.WithTableLockTimeout(opts.LockPoll, uint64(10*time.Minute/opts.LockPoll)))
		if err != nil {
			return nil, fmt.Errorf("migrations: lock: %w", err)
		}
		m.locker = l
		popts = append(popts, goose.WithLocker(l))
	case "postgres":
		l, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, fmt.Errorf("migrations: lock: %w", err)
		}
		m.locker = l
		popts = append(popts, goose.WithSessionLocker(l))
	}
	if sqls, _ := fs.Glob(fsys, "*.sql"); len(sqls) == 0 {
		return nil, fmt.Errorf("%w: none for %s yet: add migrations/%s/00001_initial.sql (the AutoMigrate schema of the models on %s)", ErrNoMigrations, dialect, dialect, dialect)
	}
	if m.provider, err = goose.NewProvider(gd, db, fsys, popts...); err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	if m.store, err = database.NewStore(gd, VersionTable); err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	for _, s := range m.provider.ListSources() {
		m.latest = max(m.latest, s.Version)
	}
	return m, nil
}

// Latest is the highest version this binary knows.
func (m *Migrator) Latest() int64 { return m.latest }

// State is where a database stands.
type State struct {
	// Version is the highest applied version; 0 for an empty or a pre-goose database.
	Version int64
	// Empty: no lingpai table at all (a new database).
	Empty bool
	// Legacy: lingpai's tables exist but goose's does not: a database created by the release
	// before versioned migrations (GORM AutoMigrate). Up records version 1 for it after checking
	// its schema.
	Legacy bool
	// Latest is the highest version this binary knows.
	Latest int64
}

// State reads where the database stands without changing it (goose itself would create its table).
func (m *Migrator) State(ctx context.Context) (State, error) {
	st := State{Latest: m.latest}
	has, err := tableExists(ctx, m.db, m.dialect, VersionTable)
	if err != nil {
		return st, err
	}
	if !has {
		legacy, err := tableExists(ctx, m.db, m.dialect, "clients")
		if err != nil {
			return st, err
		}
		st.Legacy, st.Empty = legacy, !legacy
		return st, nil
	}
	// Read without the lock (goose's GetDBVersion takes it): every replica checks at start, and
	// none should wait for another's check.
	st.Version, err = m.store.GetLatestVersion(ctx, m.db)
	if errors.Is(err, database.ErrVersionNotFound) {
		st.Version, err = 0, nil // the table exists but holds no row yet: another replica is creating it
	}
	if err != nil {
		return st, fmt.Errorf("migrations: read version: %w", err)
	}
	return st, nil
}

// Applied is one migration run.
type Applied struct {
	Version   int64
	Name      string
	Direction string // up, down, or baseline (recorded as applied without running)
	Duration  time.Duration
}

// Up brings the database to the latest version: a pre-goose database is first recognised as
// version 1 (baseline), then every pending migration runs, under the lock.
func (m *Migrator) Up(ctx context.Context) ([]Applied, error) { return m.UpTo(ctx, m.latest) }

// UpTo is Up stopping at version.
func (m *Migrator) UpTo(ctx context.Context, version int64) ([]Applied, error) {
	var out []Applied
	base, err := m.baseline(ctx)
	if err != nil {
		return nil, err
	}
	if base != nil {
		out = append(out, *base)
	}
	res, err := m.provider.UpTo(ctx, version)
	out = append(out, results(res)...)
	if err != nil {
		return out, fmt.Errorf("migrations: up: %w", err)
	}
	return out, nil
}

// DownTo rolls back to version (version itself stays applied). Going below version 1 would drop
// every table, so it is refused here; a test database is dropped, not migrated down.
func (m *Migrator) DownTo(ctx context.Context, version int64) ([]Applied, error) {
	if version < 1 {
		return nil, errors.New("migrations: down below version 1 would drop every table and its data: refused")
	}
	res, err := m.provider.DownTo(ctx, version)
	if err != nil {
		return results(res), fmt.Errorf("migrations: down: %w", err)
	}
	return results(res), nil
}

// Status is one known migration and whether it is applied.
type Status struct {
	Version   int64     `json:"version"`
	Name      string    `json:"name"`
	Applied   bool      `json:"applied"`
	AppliedAt time.Time `json:"applied_at,omitzero"`
}

// Status lists every migration this binary knows; nil with a legacy or empty database (goose
// would otherwise create its table just to report that nothing is applied).
func (m *Migrator) Status(ctx context.Context) ([]Status, error) {
	st, err := m.State(ctx)
	if err != nil {
		return nil, err
	}
	var out []Status
	if st.Empty || st.Legacy {
		for _, s := range m.provider.ListSources() {
			out = append(out, Status{Version: s.Version, Name: name(s.Path)})
		}
		return out, nil
	}
	list, err := m.provider.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrations: status: %w", err)
	}
	for _, s := range list {
		out = append(out, Status{Version: s.Source.Version, Name: name(s.Source.Path),
			Applied: s.State == goose.StateApplied, AppliedAt: s.AppliedAt.UTC()})
	}
	return out, nil
}

func results(res []*goose.MigrationResult) []Applied {
	out := make([]Applied, 0, len(res))
	for _, r := range res {
		if r.Error != nil {
			continue
		}
		out = append(out, Applied{Version: r.Source.Version, Name: name(r.Source.Path), Direction: r.Direction, Duration: r.Duration})
	}
	return out
}

func name(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			return path[i+1:]
		}
	}
	return path
}

// LegacySchema makes db look like a database the last release before goose left behind: the
// schema of version 1 (what that release's AutoMigrate created) and no goose bookkeeping. Upgrade
// tests start from it; nothing in lingpai's own path calls it.
func LegacySchema(ctx context.Context, db *sql.DB, dialect string) error {
	m, err := New(db, dialect, Options{})
	if err != nil {
		return err
	}
	if _, err := m.UpTo(ctx, 1); err != nil {
		return err
	}
	for _, t := range []string{VersionTable, lockTable} {
		if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+t); err != nil {
			return fmt.Errorf("migrations: legacy schema: drop %s: %w", t, err)
		}
	}
	return nil
}

// LegacyRows writes one client, one user (alice, +8613800138000) and one throttling lock in the
// columns version 1 has, as the last release before goose would have: upgrade tests count them.
func LegacyRows(ctx context.Context, db *sql.DB, dialect, clientID string) error {
	now := time.Now().UTC().Truncate(time.Second)
	stmts := []struct {
		q    string
		args []any
	}{
		{"INSERT INTO clients (id, name, public, redirect_uris, post_logout_redirect_uris, grant_types, response_types, scopes, audience, require_pkce, skip_consent, trust_wechat_openid, created_at, updated_at) VALUES (?, ?, ?, '[]', '[]', '[\"client_credentials\"]', '[]', '[]', '[]', ?, ?, ?, ?, ?)",
			[]any{clientID, clientID, false, false, false, false, now, now}},
		{"INSERT INTO users (id, username, name, email, email_verified, phone, phone_verified, disabled, created_at, updated_at) VALUES (?, ?, ?, '', ?, ?, ?, ?, ?, ?)",
			[]any{"legacy-alice", "alice", "Alice", false, "+8613800138000", true, false, now, now}},
		{"INSERT INTO throttle_locks (subject_key, locked_until) VALUES (?, ?)", []any{"acct:pwd:alice", now.Add(time.Hour)}},
	}
	for _, s := range stmts {
		q := s.q
		if dialect == "postgres" { // numbered placeholders
			for i := 1; strings.Contains(q, "?"); i++ {
				q = strings.Replace(q, "?", fmt.Sprintf("$%d", i), 1)
			}
		}
		if _, err := db.ExecContext(ctx, q, s.args...); err != nil {
			return fmt.Errorf("migrations: legacy rows: %w", err)
		}
	}
	return nil
}
