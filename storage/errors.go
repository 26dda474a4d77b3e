package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// ErrUnavailable wraps every storage error that means "the database cannot serve now" rather than
// "this request is wrong": connection refused or reset, a server shutting down, and a Galera node
// that answers but is not part of the primary component (error 1047). Callers answer it with 503.
var ErrUnavailable = errors.New("storage: database unavailable")

// IsRetryable reports errors after which the whole transaction may be run again: MySQL/MariaDB
// deadlock (1213, also what a Galera certification failure looks like) and lock wait timeout
// (1205), TiDB write conflict (9007) and pessimistic lock retry limit (8028), SQLSTATE 40001
// (serialization failure) and 40P01 (PostgreSQL deadlock), and SQLite's busy/locked.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return false // e.g. a lock wait timeout that was a Galera node outside the primary component
	}
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1213, 1205, 9007, 8028:
			return true
		}
		return string(me.SQLState[:]) == "40001"
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01"
	}
	// SQLite's are known by their text only, anywhere in the chain (fosite's errors hide it).
	return chainMentions(err, []string{"SQLITE_BUSY", "SQLITE_LOCKED", "database is locked"})
}

// IsUnavailable reports errors that mean the database (or this node of it) cannot serve: the
// connection failed or broke, the server is shutting down, or a Galera node is not ready (1047;
// it still answers a protocol ping, so only a real statement finds out).
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, gorm.ErrInvalidDB) {
		return true // database.query_timeout ran out, or the pool is closed
	}
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1040, // too many connections
			1047,                   // ER_UNKNOWN_COM_ERROR: "WSREP has not yet prepared node for application use"
			1053,                   // ER_SERVER_SHUTDOWN
			1226,                   // a user resource limit
			1927,                   // ER_CONNECTION_KILLED
			2002, 2003, 2006, 2013, // server not there, gone away, lost
			3024, // query interrupted by max_execution_time
			4031: // disconnected for inactivity
			return true
		}
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exception; 57P01-57P03: admin/crash shutdown, cannot connect now.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysqldrv.ErrInvalidConn) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var ne net.Error // dial, read and write errors and timeouts (the driver's socket deadlines)
	if errors.As(err, &ne) {
		return true
	}
	if pgconn.SafeToRetry(err) { // pgx: the request never reached the server
		return true
	}
	// SQLite's driver errors are known by their text only; fosite's errors hide their cause's text
	// from Error(), so every error in the chain is read.
	return chainMentions(err, sqliteUnavailable)
}

// unavailable wraps err with ErrUnavailable when it is one; other errors are returned as they are.
func unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || errors.Is(err, context.Canceled) || !IsUnavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// registerClassifier makes every GORM statement's connection-level error an ErrUnavailable (see
// Store.classify), so that each storage method's own wrapping ("storage: get client: ...") keeps
// it errors.Is-able.
func registerClassifier(pool *gorm.DB, classify func(ctx context.Context, pool *gorm.DB, err error) error) error {
	mark := func(db *gorm.DB) {
		if db.Error != nil {
			db.Error = classify(db.Statement.Context, pool, db.Error)
		}
	}
	db := pool
	cb := db.Callback()
	for name, p := range map[string]interface {
		Register(string, func(*gorm.DB)) error
	}{
		"create": cb.Create(), "query": cb.Query(), "update": cb.Update(),
		"delete": cb.Delete(), "row": cb.Row(), "raw": cb.Raw(),
	} {
		if err := p.Register("lingpai:unavailable", mark); err != nil {
			return fmt.Errorf("storage: register %s callback: %w", name, err)
		}
	}
	return nil
}

// classify wraps err with ErrUnavailable when it means the database cannot serve. On a Galera
// node a lock wait timeout (1205) can also mean that: with causal reads on, a node outside the
// primary component answers reads with 1205 rather than 1047. The node's readiness tells which.
// With several DSNs, an outage also asks the failover watch to look for a healthy server now.
func (s *Store) classify(ctx context.Context, db *gorm.DB, err error) error {
	err = s.classifyOne(ctx, db, err)
	if errors.Is(err, ErrUnavailable) && s.pools != nil {
		s.pools.kickWatch()
	}
	return err
}

func (s *Store) classifyOne(ctx context.Context, db *gorm.DB, err error) error {
	err = unavailable(err)
	var me *mysqldrv.MySQLError
	if !s.galera || errors.Is(err, ErrUnavailable) || !errors.As(err, &me) || me.Number != 1205 {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	// A fresh statement on the statement's own pool (the connection it ran on may be in a transaction).
	if perr := pingGalera(pctx, db.Session(&gorm.Session{NewDB: true})); perr != nil {
		return fmt.Errorf("%w: galera node not ready: %w", ErrUnavailable, err)
	}
	return err
}

// isDuplicate reports a unique-key violation: MySQL 1062, PostgreSQL 23505, SQLite's UNIQUE.
func isDuplicate(err error) bool {
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return errors.Is(err, gorm.ErrDuplicatedKey) || strings.Contains(err.Error(), "UNIQUE constraint failed")
}
