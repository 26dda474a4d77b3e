package storage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/ory/fosite"
)

func TestIsUnavailable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"query timeout", fmt.Errorf("storage: get client: %w", context.DeadlineExceeded), true},
		{"refused, inside fosite's server_error", fosite.ErrServerError.WithWrap(refused), true},
		{"cut connection", mysqldrv.ErrInvalidConn, true},
		{"too many connections", &mysqldrv.MySQLError{Number: 1040}, true},
		{"sqlite unreadable file, inside fosite's error", fosite.ErrServerError.WithWrap(errors.New("unable to open database file (14) (SQLITE_CANTOPEN)")), true},
		{"not found", fosite.ErrNotFound, false},
		{"duplicate key", &mysqldrv.MySQLError{Number: 1062}, false},
		{"bad credentials", fosite.ErrInvalidClient, false},
		{"client gone away", context.Canceled, false},
	} {
		if got := IsUnavailable(c.err); got != c.want {
			t.Errorf("%s: IsUnavailable = %v, want %v", c.name, got, c.want)
		}
	}
	// A busy SQLite file is a conflict a transaction retries while the query timeout allows; one
	// that stays busy is still answered 503 (IsTransient), never treated as bad input.
	busy := fosite.ErrServerError.WithWrap(errors.New("database is locked (5) (SQLITE_BUSY)"))
	if IsUnavailable(busy) || !IsRetryable(busy) || !IsTransient(busy) {
		t.Errorf("sqlite busy: IsUnavailable %v, IsRetryable %v, IsTransient %v; want false, true, true",
			IsUnavailable(busy), IsRetryable(busy), IsTransient(busy))
	}
}

// A query on a pool whose only connection is held elsewhere must fail within the query timeout,
// with an error IsUnavailable recognises, instead of waiting for the connection forever.
func TestQueryTimeoutBoundsPoolWait(t *testing.T) {
	s, err := Open(Options{Driver: "sqlite", DSN: t.TempDir() + "/t.db", QueryTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := s.gdb().DB()
	hold, err := sqlDB.Conn(context.Background()) // SQLite's pool has one connection
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	start := time.Now()
	_, err = s.GetClient(context.Background(), "nobody")
	took := time.Since(start)
	if err == nil || !IsUnavailable(err) || took > time.Second {
		t.Fatalf("GetClient with no free connection: %v after %s (want an unavailable error within ~300ms)", err, took)
	}
	t.Logf("answered %v after %s", err, took.Round(time.Millisecond))

	// Within one request's budget, a second query after a timed-out one fails at once.
	ctx := WithQueryBudget(context.Background())
	_, _ = s.GetClient(ctx, "nobody")
	start = time.Now()
	_, err = s.GetClient(ctx, "nobody")
	if took := time.Since(start); !IsUnavailable(err) || took > 100*time.Millisecond {
		t.Fatalf("second query of a request whose budget is spent: %v after %s (want an unavailable error at once)", err, took)
	}
	// A new request has its own budget.
	hold.Close()
	if _, err := s.GetClient(WithQueryBudget(context.Background()), "nobody"); IsUnavailable(err) {
		t.Fatalf("a fresh request: %v", err)
	}
}
