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
)

// Options opens a Store.
type Options struct {
	Driver string // sqlite, mysql or postgres
	DSN    string
	// DSNs, when it has more than one entry, replaces DSN: the servers (nodes of one cluster) are
	// tried in order, and the store uses the first healthy one, failing over and back by health.
	DSNs            []string
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
	// runs after the failing request's rollback) and failovers; nil discards them.
	Logger *slog.Logger
	// Secrets are security.secrets: the first encrypts key material at rest, every one decrypts.
	// None: key material is stored in plaintext (and plaintext rows are always read).
	Secrets [][]byte
	// StatelessAccessTokens (tokens.store_access_tokens: false) stores no access token rows: JWT
	// access tokens are checked by signature and against token_revocations.
	StatelessAccessTokens bool
	// AccessTokenLifetime (tokens.access_token_lifetime) bounds how long a revocation is kept.
	AccessTokenLifetime time.Duration
}

// Store is the GORM-backed implementation of every storage interface lingpai uses.
type Store struct {
	pools   *pools
	driver  string
	galera  bool // a MariaDB Galera node (wsrep_on): causal reads set, readiness checked by Ping
	opts    Options
	clients clientCache
	origins originCache
	seal    *sealer // key material at rest (Options.Secrets)
	// clientHooks run after a client changes (OnClientChange); set at start-up only.
	clientHooks []func(id string)
	now         func() time.Time
	retries     retryCounts // whole-transaction reruns (retry.go), for the metrics
}

// Open connects to the database. It does not migrate: call Migrate (lingpai migrate does).
func Open(opts Options) (*Store, error) {
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = DefaultQueryTimeout
	}
	seal, err := newSealer(opts.Secrets)
	if err != nil {
		return nil, err
	}
	s := &Store{driver: opts.Driver, opts: opts, now: func() time.Time { return time.Now().UTC() }, seal: seal}
	s.clients.ttl = opts.ClientCacheTTL
	p, galera, err := openPools(opts, s.classify)
	if err != nil {
		return nil, err
	}
	s.pools, s.galera = p, galera
	if err := p.start(s.healthy, opts.Logger); err != nil {
		_ = p.close()
		return nil, err
	}
	return s, nil
}

// gdb is the pool of the server in use (with several DSNs, the first healthy one).
func (s *Store) gdb() *gorm.DB { return s.pools.current() }

// Driver names the backend (sqlite, mysql or postgres).
func (s *Store) Driver() string { return s.driver }

// SetClock replaces the clock; tests use it to move time without sleeping.
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// Ping checks the database with the context's deadline. It runs a statement rather than a
// protocol ping: a Galera node that has left the primary component still answers pings but
// refuses statements, and such a node must fail the health check. With several DSNs a failing
// server is replaced by the next healthy one first, so Ping fails only when none is healthy.
func (s *Store) Ping(ctx context.Context) error {
	err := s.healthy(ctx, s.gdb())
	if err != nil && s.pools.multi() {
		if s.pools.failover(ctx) >= 0 {
			err = s.healthy(ctx, s.gdb())
		}
	}
	return err
}

// healthy checks one server: SELECT 1, or on Galera the node's readiness.
func (s *Store) healthy(ctx context.Context, db *gorm.DB) error {
	if s.galera {
		return pingGalera(ctx, db)
	}
	var one int
	if err := db.WithContext(ctx).Raw("SELECT 1").Scan(&one).Error; err != nil {
		if errors.Is(err, ErrUnavailable) {
			return fmt.Errorf("storage: ping: %w", err)
		}
		// Whatever the cause (a hung node runs into the deadline), a failed health check is an outage.
		return fmt.Errorf("%w: storage: ping: %w", ErrUnavailable, err)
	}
	return nil
}

// Close stops the failover watch and closes the connection pools.
func (s *Store) Close() error { return s.pools.close() }

// pingGalera asks the node whether it is ready (a synced member of the primary component). Not
// SELECT 1: MariaDB lets table-less statements through on a node that is not ready, and with
// causal reads on, a node that has lost the cluster answers them with 1205 after a wait. The
// question itself skips the causal wait, which a node outside the primary component cannot do.
func pingGalera(ctx context.Context, db *gorm.DB) error {
	var ready string
	err := db.WithContext(ctx).Raw("SET STATEMENT wsrep_sync_wait = 0 FOR " +
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
	cancel        context.CancelFunc // ends the transaction's context once it is over
	mu            sync.Mutex
	afterRollback []func(context.Context)
	rotated       string // request id of a refresh token this transaction retired
	redeemed      bool   // the transaction marked an authorization code used
}

func (s *Store) db(ctx context.Context) *gorm.DB {
	if st, ok := ctx.Value(txKey{}).(*txState); ok {
		return st.tx
	}
	return s.gdb().WithContext(ctx)
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
	tx, cancel, err := beginBounded(s.gdb(), ctx, s.opts.QueryTimeout, s.txOptions())
	if err != nil {
		return ctx, fmt.Errorf("storage: begin: %w", unavailable(err))
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
	err := s.commitTx(st.tx)
	if err == nil {
		return nil
	}
	if s.racing(err) {
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
