package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
)

// DefaultQueryTimeout bounds a query when Options.QueryTimeout is zero (database.query_timeout).
const DefaultQueryTimeout = 5 * time.Second

const cancelKey = "lingpai:cancel"

// boundQueries gives every statement GORM runs its own deadline of d (on top of the caller's
// context), so a frozen database or an exhausted pool fails the query instead of hanging the
// request. The "row" callback hands back rows still to be read, so its deadline is left to expire
// on its own rather than cancelled when the callback returns.
func boundQueries(gdb *gorm.DB, d time.Duration) error {
	start := func(db *gorm.DB) {
		limit := d
		if b, ok := db.Statement.Context.Value(budgetKey{}).(*budget); ok && b.spent.Load() {
			limit = 0 // this request already waited a whole query timeout: fail at once
		}
		ctx, cancel := context.WithTimeout(db.Statement.Context, limit)
		db.Statement.Context = ctx
		db.Statement.Settings.Store(cancelKey, cancel)
	}
	mark := func(db *gorm.DB) {
		if db.Error != nil && spentWaiting(db.Statement.Context, db.Error) {
			if b, ok := db.Statement.Context.Value(budgetKey{}).(*budget); ok {
				b.spent.Store(true)
			}
		}
	}
	end := func(db *gorm.DB) {
		mark(db)
		if c, ok := db.Statement.Settings.LoadAndDelete(cancelKey); ok {
			c.(context.CancelFunc)()
		}
	}
	type registrar interface {
		Register(name string, fn func(*gorm.DB)) error
	}
	cb := gdb.Callback()
	for _, p := range []struct{ before, after registrar }{
		{cb.Create().Before("*"), cb.Create().After("*")},
		{cb.Query().Before("*"), cb.Query().After("*")},
		{cb.Update().Before("*"), cb.Update().After("*")},
		{cb.Delete().Before("*"), cb.Delete().After("*")},
		{cb.Raw().Before("*"), cb.Raw().After("*")},
		{cb.Row().Before("*"), nil},
	} {
		if err := p.before.Register("lingpai:deadline", start); err != nil {
			return err
		}
		if p.after != nil {
			if err := p.after.Register("lingpai:deadline_end", end); err != nil {
				return err
			}
		}
	}
	// Row (Scan, Raw) hands back rows still to be read, so its deadline is not cancelled here;
	// but a row query that ran out of time spends the request's budget like any other (the
	// throttle's counter reads are Scans).
	return cb.Row().After("*").Register("lingpai:deadline_mark", mark)
}

// spentWaiting reports a query that failed by waiting out its time: its deadline passed, the
// socket timed out (MySQL's readTimeout fires with it), or SQLite's busy timeout ran out.
func spentWaiting(ctx context.Context, err error) bool {
	var ne net.Error
	return ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) ||
		errors.Is(err, mysqldrv.ErrInvalidConn) || errors.Is(err, driver.ErrBadConn) || // the connection died waiting
		chainMentions(err, []string{"SQLITE_BUSY", "database is locked"})
}

type budgetKey struct{}

// budget records that a request has spent its query timeout.
type budget struct{ spent atomic.Bool }

// WithQueryBudget marks ctx as one request's: once one of its queries has run into
// database.query_timeout, its later queries fail at once instead of each waiting the timeout
// again, so a request that needs several queries still answers within about one query timeout
// when the database is frozen. The server wraps every request with it.
func WithQueryBudget(ctx context.Context) context.Context {
	return context.WithValue(ctx, budgetKey{}, &budget{})
}

// beginBounded starts a transaction whose begin (a connection from the pool, then BEGIN) must
// finish within d; the transaction itself lives on ctx, with each statement bounded by
// boundQueries. The returned cancel ends the transaction's context: call it after commit or
// rollback.
func beginBounded(db *gorm.DB, ctx context.Context, d time.Duration, opts *sql.TxOptions) (*gorm.DB, context.CancelFunc, error) {
	tctx, cancel := context.WithCancel(ctx)
	if b, ok := ctx.Value(budgetKey{}).(*budget); ok && b.spent.Load() {
		d = 0
	}
	watchdog := time.AfterFunc(d, cancel)
	tx := db.WithContext(tctx).Begin(opts)
	if !watchdog.Stop() || tx.Error != nil {
		cancel()
		err := tx.Error
		if err == nil {
			err = context.DeadlineExceeded
		} else if tctx.Err() != nil && ctx.Err() == nil {
			err = errors.Join(err, context.DeadlineExceeded)
		}
		if b, ok := ctx.Value(budgetKey{}).(*budget); ok && errors.Is(err, context.DeadlineExceeded) {
			b.spent.Store(true)
		}
		return nil, func() {}, err
	}
	return tx, cancel, nil
}

// IsTransient reports an error a client may simply retry: the database could not be used
// (IsUnavailable), or a conflict that outlived the retries (IsRetryable: a deadlock, a lock wait,
// a SQLite file that stayed locked past the query timeout). Handlers answer both with 503.
func IsTransient(err error) bool { return IsUnavailable(err) || IsRetryable(err) }

// sqliteUnavailable are SQLite's texts for a file that cannot be used (busy and locked are
// IsRetryable's: a transaction runs again while the query timeout allows).
var sqliteUnavailable = []string{"database table is locked",
	"SQLITE_CANTOPEN", "unable to open database file", "SQLITE_IOERR", "disk I/O error",
	"SQLITE_READONLY", "readonly database", "SQLITE_FULL", "database or disk is full",
	"SQLITE_NOTADB", "file is not a database", "SQLITE_INTERRUPT", "interrupted", "sql: database is closed"}

// chainMentions reports whether any error in err's chain (joined errors included) says one of texts.
func chainMentions(err error, texts []string) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	for _, s := range texts {
		if strings.Contains(msg, s) {
			return true
		}
	}
	switch u := err.(type) { //nolint:errorlint // walking the chain by hand, one level at a time
	case interface{ Unwrap() error }:
		return chainMentions(u.Unwrap(), texts)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if chainMentions(e, texts) {
				return true
			}
		}
	}
	return false
}
