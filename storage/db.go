package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
)

// Options opens a Store.
type Options struct {
	Driver          string // sqlite, mysql or postgres
	DSN             string
	MaxOpenConns    int
	MaxIdleConns    int
	ConnMaxLifetime time.Duration
	// ClientCacheTTL keeps clients in memory this long; 0 disables the cache. Token state is never
	// cached, so a revocation at one replica holds at every replica at once.
	ClientCacheTTL time.Duration
	// DefaultAudience is the aud given to tokens of clients that register none.
	DefaultAudience []string
	// Logger receives failures that no caller can see (a family revocation after a detected reuse
	// runs after the failing request's rollback); nil discards them.
	Logger *slog.Logger
}

// Store is the GORM-backed implementation of every storage interface lingpai uses.
type Store struct {
	gdb     *gorm.DB
	driver  string
	galera  bool // a MariaDB Galera node (wsrep_on): causal reads set, readiness checked by Ping
	opts    Options
	clients clientCache
	now     func() time.Time
}

// Open connects to the database. It does not migrate: call Migrate (lingpai migrate does).
func Open(opts Options) (*Store, error) {
	dial, err := dialector(opts.Driver, opts.DSN)
	if err != nil {
		return nil, err
	}
	gdb, err := gorm.Open(dial, gormConfig())
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", opts.Driver, unavailable(err))
	}
	galera := false
	if opts.Driver == "mysql" {
		if gdb, galera, err = causalOnGalera(gdb, opts.DSN); err != nil {
			return nil, err
		}
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
	s := &Store{gdb: gdb, driver: opts.Driver, galera: galera, opts: opts, now: func() time.Time { return time.Now().UTC() }}
	s.clients.ttl = opts.ClientCacheTTL
	if err := registerClassifier(gdb, s.classify); err != nil {
		return nil, err
	}
	return s, nil
}

// Driver names the backend (sqlite, mysql or postgres).
func (s *Store) Driver() string { return s.driver }

// SetClock replaces the clock; tests use it to move time without sleeping.
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// Ping checks the database with the context's deadline. It runs a statement rather than a
// protocol ping: a Galera node that has left the primary component still answers pings but
// refuses statements with error 1047, and such a node must fail the health check.
func (s *Store) Ping(ctx context.Context) error {
	if s.galera {
		return s.pingGalera(ctx)
	}
	var one int
	if err := s.gdb.WithContext(ctx).Raw("SELECT 1").Scan(&one).Error; err != nil {
		if errors.Is(err, ErrUnavailable) {
			return fmt.Errorf("storage: ping: %w", err)
		}
		// Whatever the cause (a hung node runs into the deadline), a failed health check is an outage.
		return fmt.Errorf("%w: storage: ping: %w", ErrUnavailable, err)
	}
	return nil
}

// Close closes the connection pool.
func (s *Store) Close() error {
	sqlDB, err := s.gdb.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// pingGalera asks the node whether it is ready (a synced member of the primary component). Not
// SELECT 1: MariaDB lets table-less statements through on a node that is not ready, and with
// causal reads on, a node that has lost the cluster answers them with 1205 after a wait. The
// question itself skips the causal wait, which a node outside the primary component cannot do.
func (s *Store) pingGalera(ctx context.Context) error {
	var ready string
	err := s.gdb.WithContext(ctx).Raw("SET STATEMENT wsrep_sync_wait = 0 FOR " +
		"SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_READY'").Scan(&ready).Error
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			return fmt.Errorf("storage: ping: %w", err)
		}
		return fmt.Errorf("%w: storage: ping: %w", ErrUnavailable, err)
	}
	if !strings.EqualFold(ready, "ON") {
		return fmt.Errorf("%w: storage: ping: galera node not ready (wsrep_ready=%q)", ErrUnavailable, ready)
	}
	return nil
}

// DB exposes the GORM handle for packages that own their own tables (registered via Migrate).
func (s *Store) DB(ctx context.Context) *gorm.DB { return s.db(ctx) }

type txKey struct{}

// txState is the transaction carried in a context, plus work to run once it has rolled back
// (a reuse detected inside a transaction must revoke the family even though the transaction fails).
type txState struct {
	tx            *gorm.DB
	mu            sync.Mutex
	afterRollback []func(context.Context)
	rotated       string // request id of a refresh token this transaction retired
	redeemed      bool   // the transaction marked an authorization code used
}

func (s *Store) db(ctx context.Context) *gorm.DB {
	if st, ok := ctx.Value(txKey{}).(*txState); ok {
		return st.tx
	}
	return s.gdb.WithContext(ctx)
}

// forUpdate is db(ctx) whose next read locks the rows it reads (by primary key only: a range lock
// deadlocks against inserts) for the rest of the transaction on MySQL and PostgreSQL; SQLite has
// one writer. On Galera the lock holds on one node only: correctness comes from the writes that
// follow (compare-and-set), which certification orders across nodes.
func (s *Store) forUpdate(ctx context.Context) *gorm.DB {
	if s.driver != "sqlite" {
		return s.db(ctx).Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return s.db(ctx)
}

// BeginTX starts a transaction carried in the returned context (fosite's storage.Transactional).
func (s *Store) BeginTX(ctx context.Context) (context.Context, error) {
	if _, ok := ctx.Value(txKey{}).(*txState); ok {
		return ctx, errors.New("storage: transaction already open in this context")
	}
	tx := s.gdb.WithContext(ctx).Begin(s.txOptions())
	if tx.Error != nil {
		return ctx, fmt.Errorf("storage: begin: %w", unavailable(tx.Error))
	}
	return context.WithValue(ctx, txKey{}, &txState{tx: tx}), nil
}

// Commit commits the context's transaction.
func (s *Store) Commit(ctx context.Context) error {
	st, ok := ctx.Value(txKey{}).(*txState)
	if !ok {
		return errors.New("storage: commit without transaction")
	}
	err := st.tx.Commit().Error
	if err == nil {
		return nil
	}
	if IsRetryable(err) {
		// On Galera a lost race often surfaces here, at COMMIT (certification failure, 1213),
		// rather than as zero rows affected.
		return s.lostRace(ctx, "storage: commit", err)
	}
	return fmt.Errorf("storage: commit: %w", unavailable(err))
}

// Rollback rolls the context's transaction back, then runs the work queued for after rollback on
// a fresh connection.
func (s *Store) Rollback(ctx context.Context) error {
	st, ok := ctx.Value(txKey{}).(*txState)
	if !ok {
		return errors.New("storage: rollback without transaction")
	}
	err := st.tx.Rollback().Error
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

// txOptions picks READ COMMITTED on MySQL and PostgreSQL: the token tables are written by primary
// key, and repeatable read's gap locks (MySQL) or serialization failures (PostgreSQL) only add
// aborts between concurrent grants. Never SERIALIZABLE: TiDB rejects it (8048). SQLite has one writer.
func (s *Store) txOptions() *sql.TxOptions {
	if s.driver == "sqlite" {
		return nil
	}
	return &sql.TxOptions{Isolation: sql.LevelReadCommitted}
}

// inTx reports whether ctx carries a transaction.
func inTx(ctx context.Context) bool {
	st, ok := ctx.Value(txKey{}).(*txState)
	return ok && st != nil
}

// noteInTx records something about the context's transaction (no-op outside one).
func noteInTx(ctx context.Context, f func(st *txState)) {
	if st, ok := ctx.Value(txKey{}).(*txState); ok && st != nil {
		st.mu.Lock()
		f(st)
		st.mu.Unlock()
	}
}

func gormConfig() *gorm.Config {
	return &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true, // single statements need no wrapping transaction
		PrepareStmt:            true,
		NowFunc:                func() time.Time { return time.Now().UTC() },
	}
}
