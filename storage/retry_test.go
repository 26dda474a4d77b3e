package storage_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/storagetest"
)

func TestClassification(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("storage: op: %w", err) }
	cases := []struct {
		name                   string
		err                    error
		retryable, unavailable bool
	}{
		{"mysql deadlock / galera certification failure", &mysqldrv.MySQLError{Number: 1213}, true, false},
		{"mysql lock wait timeout", &mysqldrv.MySQLError{Number: 1205}, true, false},
		{"tidb write conflict", &mysqldrv.MySQLError{Number: 9007}, true, false},
		{"tidb pessimistic retry limit", &mysqldrv.MySQLError{Number: 8028}, true, false},
		{"sqlstate 40001 under another number", &mysqldrv.MySQLError{Number: 1, SQLState: [5]byte{'4', '0', '0', '0', '1'}}, true, false},
		{"galera node not ready", &mysqldrv.MySQLError{Number: 1047}, false, true},
		{"mysql server shutdown", &mysqldrv.MySQLError{Number: 1053}, false, true},
		{"mysql duplicate key", &mysqldrv.MySQLError{Number: 1062}, false, false},
		{"postgres serialization failure", &pgconn.PgError{Code: "40001"}, true, false},
		{"postgres deadlock", &pgconn.PgError{Code: "40P01"}, true, false},
		{"postgres admin shutdown", &pgconn.PgError{Code: "57P01"}, false, true},
		{"postgres connection failure", &pgconn.PgError{Code: "08006"}, false, true},
		{"postgres unique violation", &pgconn.PgError{Code: "23505"}, false, false},
		{"bad connection", mysqldrv.ErrInvalidConn, false, true},
		{"sqlite busy", errors.New("database is locked (5) (SQLITE_BUSY)"), true, false},
		{"plain error", errors.New("no such table"), false, false},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			if got := storage.IsRetryable(wrap(tt.err)); got != tt.retryable {
				t.Errorf("IsRetryable = %v, want %v", got, tt.retryable)
			}
			if got := storage.IsUnavailable(wrap(tt.err)); got != tt.unavailable {
				t.Errorf("IsUnavailable = %v, want %v", got, tt.unavailable)
			}
		})
	}
}

// TestConnectionRefusedIsUnavailable: a server that is not there is ErrUnavailable (503), not a
// server error, on both network drivers; found on a port that was just closed.
func TestConnectionRefusedIsUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	for _, tt := range []struct{ driver, dsn string }{
		{"mysql", fmt.Sprintf("root@tcp(127.0.0.1:%d)/x?timeout=2s", port)},
		{"postgres", fmt.Sprintf("postgres://root@127.0.0.1:%d/x?sslmode=disable&connect_timeout=2", port)},
	} {
		t.Run(tt.driver, func(t *testing.T) {
			_, err := storage.Open(storage.Options{Driver: tt.driver, DSN: tt.dsn})
			if !errors.Is(err, storage.ErrUnavailable) {
				t.Fatalf("open on a closed port: %v; want ErrUnavailable", err)
			}
		})
	}
}

// TestTransactionRetriesWholeClosure: a closure that hits a retryable error runs again from the
// start, and only the last run's writes stay: two failed runs each wrote a row that must be gone.
func TestTransactionRetriesWholeClosure(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s := b.Open(t, storage.Options{})
			ctx := context.Background()
			runs := 0
			err := s.Transaction(ctx, func(ctx context.Context) error {
				runs++
				if _, err := s.AddCount(ctx, fmt.Sprintf("run-%d", runs), 1, 1, time.Now().Add(time.Hour)); err != nil {
					return err
				}
				if runs < 3 {
					return fmt.Errorf("lost a race: %w", &mysqldrv.MySQLError{Number: 1213, Message: "Deadlock found"})
				}
				return nil
			})
			if err != nil || runs != 3 {
				t.Fatalf("err=%v runs=%d; want nil after 3 runs", err, runs)
			}
			if retried, gaveUp := s.TxRetries(); retried != 2 || gaveUp != 0 {
				t.Errorf("TxRetries = %d retried, %d gave up; want 2, 0", retried, gaveUp)
			}
			for run, want := range map[int]int{1: 0, 2: 0, 3: 1} {
				if n, err := s.AddCount(ctx, fmt.Sprintf("run-%d", run), 1, 0, time.Now().Add(time.Hour)); err != nil || n != want {
					t.Errorf("counter of run %d = %d (%v), want %d", run, n, err, want)
				}
			}
		})
	}
}

// TestTransactionRetryIsBounded: a conflict that never clears gives up after a fixed number of
// runs and returns the database's error.
func TestTransactionRetryIsBounded(t *testing.T) {
	s := storagetest.OpenSQLite(t, storage.Options{})
	runs := 0
	start := time.Now()
	err := s.Transaction(context.Background(), func(context.Context) error {
		runs++
		return &mysqldrv.MySQLError{Number: 1213, Message: "Deadlock found"}
	})
	var me *mysqldrv.MySQLError
	if !errors.As(err, &me) || me.Number != 1213 || runs != 8 {
		t.Fatalf("err=%v runs=%d; want the 1213 after 8 runs", err, runs)
	}
	if retried, gaveUp := s.TxRetries(); retried != 7 || gaveUp != 1 {
		t.Errorf("TxRetries = %d retried, %d gave up; want 7, 1", retried, gaveUp)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("gave up after %s; the backoff must stay inside a request", d)
	}
	t.Logf("gave up after %d runs in %s", runs, time.Since(start).Round(time.Millisecond))
}

// TestRealDeadlockIsRetried: two transactions that take two counter rows in opposite order
// deadlock for real on MySQL and PostgreSQL; the database aborts one (1213 / 40P01), which runs
// again and succeeds, so both increments land exactly once.
func TestRealDeadlockIsRetried(t *testing.T) {
	for _, b := range storagetest.Backends() {
		if b.Name == "sqlite" {
			continue // one writer: no deadlock to provoke
		}
		t.Run(b.Name, func(t *testing.T) {
			s := b.Open(t, storage.Options{})
			ctx := context.Background()
			exp := time.Now().Add(time.Hour)
			for _, k := range []string{"a", "b"} {
				if _, err := s.AddCount(ctx, k, 1, 0, exp); err != nil {
					t.Fatal(err)
				}
			}
			var runs atomic.Int32
			var holding sync.WaitGroup
			holding.Add(2)
			var once [2]sync.Once
			tx := func(i int, first, second string) error {
				return s.Transaction(ctx, func(ctx context.Context) error {
					runs.Add(1)
					if _, err := s.AddCount(ctx, first, 1, 1, exp); err != nil {
						return err
					}
					once[i].Do(func() { holding.Done(); holding.Wait() }) // both hold their first row
					_, err := s.AddCount(ctx, second, 1, 1, exp)
					return err
				})
			}
			errs := make(chan error, 2)
			go func() { errs <- tx(0, "a", "b") }()
			go func() { errs <- tx(1, "b", "a") }()
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatalf("transaction failed despite retries: %v", err)
				}
			}
			for _, k := range []string{"a", "b"} {
				if n, err := s.AddCount(ctx, k, 1, 0, exp); err != nil || n != 2 {
					t.Errorf("counter %s = %d (%v), want 2: an increment was lost or doubled", k, n, err)
				}
			}
			if runs.Load() < 3 {
				t.Errorf("%d runs: no deadlock happened, the test proves nothing", runs.Load())
			}
			t.Logf("%d closure runs for 2 transactions", runs.Load())
		})
	}
}
