package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/glebarez/sqlite"
	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
)

// Options opens a Store.
type Options struct {
	Driver          string // sqlite or mysql
	DSN             string
	MaxOpenConns    int
	MaxIdleConns    int
	ConnMaxLifetime time.Duration
	// ClientCacheTTL keeps clients in memory this long; 0 disables the cache. Token state is never
	// cached, so a revocation at one replica holds at every replica at once.
	ClientCacheTTL time.Duration
	// DefaultAudience is the aud given to tokens of clients that register none.
	DefaultAudience []string
	// QueryTimeout bounds every query and the wait for a connection (database.query_timeout);
	// 0 means DefaultQueryTimeout.
	QueryTimeout time.Duration
	// Logger receives failures that no caller can see (a family revocation after a detected reuse
	// runs after the failing request's rollback); nil discards them.
	Logger *slog.Logger
}

// Store is the GORM-backed implementation of every storage interface lingpai uses.
type Store struct {
	gdb     *gorm.DB
	driver  string
	opts    Options
	clients clientCache
	now     func() time.Time
}

// Open connects to the database. It does not migrate: call Migrate (lingpai migrate does).
func Open(opts Options) (*Store, error) {
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = DefaultQueryTimeout
	}
	var dial gorm.Dialector
	switch opts.Driver {
	case "sqlite":
		dial = sqlite.Open(sqliteDSN(opts.DSN, opts.QueryTimeout))
	case "mysql":
		dsn, err := mysqlDSN(opts.DSN, opts.QueryTimeout)
		if err != nil {
			return nil, err
		}
		dial = mysql.Open(dsn)
	default:
		return nil, fmt.Errorf("storage: unknown driver %q", opts.Driver)
	}
	gdb, err := gorm.Open(dial, &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true, // single statements need no wrapping transaction
		PrepareStmt:            true,
		NowFunc:                func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", opts.Driver, err)
	}
	if err := boundQueries(gdb, opts.QueryTimeout); err != nil {
		return nil, fmt.Errorf("storage: query timeout: %w", err)
	}
	sqlDB, err := gdb.DB()
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	if opts.Driver == "sqlite" {
		// SQLite has one writer; one connection serialises access instead of failing with SQLITE_BUSY.
		sqlDB.SetMaxOpenConns(1)
	} else {
		if opts.MaxOpenConns > 0 {
			sqlDB.SetMaxOpenConns(opts.MaxOpenConns)
		}
		if opts.MaxIdleConns > 0 {
			sqlDB.SetMaxIdleConns(opts.MaxIdleConns)
		}
	}
	if opts.ConnMaxLifetime > 0 {
		sqlDB.SetConnMaxLifetime(opts.ConnMaxLifetime)
	}
	s := &Store{gdb: gdb, driver: opts.Driver, opts: opts, now: func() time.Time { return time.Now().UTC() }}
	s.clients.ttl = opts.ClientCacheTTL
	return s, nil
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
	for _, d := range []*time.Duration{&cfg.Timeout, &cfg.ReadTimeout, &cfg.WriteTimeout} {
		if *d == 0 {
			*d = queryTimeout
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

// Driver names the backend (sqlite or mysql).
func (s *Store) Driver() string { return s.driver }

// SetClock replaces the clock; tests use it to move time without sleeping.
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// Ping checks the database with the context's deadline.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.gdb.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// Close closes the connection pool.
func (s *Store) Close() error {
	sqlDB, err := s.gdb.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// DB exposes the GORM handle for packages that own their own tables (registered via Migrate).
func (s *Store) DB(ctx context.Context) *gorm.DB { return s.db(ctx) }

type txKey struct{}

// txState is the transaction carried in a context, plus work to run once it has rolled back
// (a reuse detected inside a transaction must revoke the family even though the transaction fails).
type txState struct {
	tx            *gorm.DB
	cancel        context.CancelFunc // ends the transaction's context once it is over
	mu            sync.Mutex
	afterRollback []func(context.Context)
}

func (s *Store) db(ctx context.Context) *gorm.DB {
	if st, ok := ctx.Value(txKey{}).(*txState); ok {
		return st.tx
	}
	return s.gdb.WithContext(ctx)
}

// forUpdate is db(ctx) whose next read locks the rows it reads (by primary key only: a range lock
// deadlocks against inserts) for the rest of the transaction on MySQL; SQLite has one writer.
func (s *Store) forUpdate(ctx context.Context) *gorm.DB {
	if s.driver == "mysql" {
		return s.db(ctx).Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return s.db(ctx)
}

// BeginTX starts a transaction carried in the returned context (fosite's storage.Transactional).
func (s *Store) BeginTX(ctx context.Context) (context.Context, error) {
	if _, ok := ctx.Value(txKey{}).(*txState); ok {
		return ctx, errors.New("storage: transaction already open in this context")
	}
	tx, cancel, err := beginBounded(s.gdb, ctx, s.opts.QueryTimeout, s.txOptions())
	if err != nil {
		return ctx, fmt.Errorf("storage: begin: %w", err)
	}
	return context.WithValue(ctx, txKey{}, &txState{tx: tx, cancel: cancel}), nil
}

// Commit commits the context's transaction.
func (s *Store) Commit(ctx context.Context) error {
	st, ok := ctx.Value(txKey{}).(*txState)
	if !ok {
		return errors.New("storage: commit without transaction")
	}
	defer st.cancel()
	if err := st.tx.Commit().Error; err != nil {
		return fmt.Errorf("storage: commit: %w", err)
	}
	return nil
}

// Rollback rolls the context's transaction back, then runs the work queued for after rollback on
// a fresh connection.
func (s *Store) Rollback(ctx context.Context) error {
	st, ok := ctx.Value(txKey{}).(*txState)
	if !ok {
		return errors.New("storage: rollback without transaction")
	}
	err := st.tx.Rollback().Error
	st.cancel()
	st.mu.Lock()
	after := st.afterRollback
	st.afterRollback = nil
	st.mu.Unlock()
	plain := context.WithoutCancel(ctx) // the revocation must happen even if the client went away
	plain = context.WithValue(plain, txKey{}, nil)
	for _, f := range after {
		f(plain)
	}
	if err != nil && !errors.Is(err, gorm.ErrInvalidTransaction) {
		return fmt.Errorf("storage: rollback: %w", err)
	}
	return nil
}

// afterRollback queues f to run after the context's transaction rolls back; without a
// transaction f runs at once.
func (s *Store) afterRollback(ctx context.Context, f func(context.Context)) {
	if st, ok := ctx.Value(txKey{}).(*txState); ok {
		st.mu.Lock()
		st.afterRollback = append(st.afterRollback, f)
		st.mu.Unlock()
		return
	}
	f(ctx)
}

// Transaction runs fn in a transaction, retrying the whole of it (bounded, with jitter) when the
// database reports a deadlock, lock wait timeout or write conflict. fn must be idempotent.
func (s *Store) Transaction(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(txKey{}).(*txState); ok {
		return fn(ctx) // already inside one: join it
	}
	var err error
	start := time.Now()
	for attempt := 0; attempt < 5; attempt++ {
		err = s.transaction(ctx, fn)
		// A retry must not take a request past the query timeout: an unavailable database
		// (frozen, or a SQLite file locked by another process) is answered, not waited for.
		if err == nil || !IsRetryable(err) || errors.Is(err, context.DeadlineExceeded) || time.Since(start) > s.opts.QueryTimeout {
			return err
		}
		backoff := time.Duration(10*(1<<attempt)) * time.Millisecond
		select {
		case <-time.After(backoff/2 + rand.N(backoff)):
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		}
	}
	return err
}

// transaction runs fn once in a transaction whose begin is bounded by the query timeout.
func (s *Store) transaction(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	tx, cancel, err := beginBounded(s.gdb, ctx, s.opts.QueryTimeout, s.txOptions())
	if err != nil {
		return err
	}
	defer cancel()
	committed := false
	defer func() {
		if !committed {
			tx.Rollback() // a panic or an error: nothing of fn stays
		}
	}()
	if err := fn(context.WithValue(ctx, txKey{}, &txState{tx: tx, cancel: func() {}})); err != nil {
		return err
	}
	if err := tx.Commit().Error; err != nil {
		return err
	}
	committed = true
	return nil
}

// txOptions picks READ COMMITTED on MySQL: the token tables are written by primary key, and
// repeatable read's gap locks only add deadlocks between concurrent grants. SQLite has one writer.
func (s *Store) txOptions() *sql.TxOptions {
	if s.driver == "mysql" {
		return &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	return nil
}

// IsRetryable reports deadlock, lock-timeout and write-conflict errors: MySQL 1213 and 1205, TiDB
// 9007 and 8028, SQLSTATE 40001, and SQLite's busy/locked.
func IsRetryable(err error) bool {
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1213, 1205, 9007, 8028:
			return true
		}
		return string(me.SQLState[:]) == "40001"
	}
	msg := err.Error()
	return strings.Contains(msg, "SQLITE_BUSY") || strings.Contains(msg, "database is locked")
}

func isDuplicate(err error) bool {
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062
	}
	return errors.Is(err, gorm.ErrDuplicatedKey) || strings.Contains(err.Error(), "UNIQUE constraint failed")
}
