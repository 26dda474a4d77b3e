package pgrig_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lingpai/lingpai/internal/testutil/pgrig"
	"github.com/lingpai/lingpai/storage"
)

// TestPostgresOutage: a store on a private PostgreSQL works, reports ErrUnavailable (503) while
// the server is down, and serves again by itself when the server is back.
func TestPostgresOutage(t *testing.T) {
	start := time.Now()
	pg := pgrig.Start(t)
	t.Logf("private PostgreSQL up in %s on port %d", time.Since(start).Round(10*time.Millisecond), pg.Port)
	s, err := storage.Open(storage.Options{Driver: "postgres", DSN: pg.DSN("postgres")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	if n, err := s.AddCount(ctx, "k", 1, 1, exp); err != nil || n != 1 {
		t.Fatalf("before: %d %v", n, err)
	}
	pg.Stop()
	if err := s.Ping(ctx); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("ping with the server down: %v; want ErrUnavailable", err)
	}
	if _, err := s.AddCount(ctx, "k", 1, 1, exp); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("write with the server down: %v; want ErrUnavailable", err)
	}
	pg.Start()
	if n, err := s.AddCount(ctx, "k", 1, 1, exp); err != nil || n != 2 {
		t.Fatalf("after restart: %d %v; want 2 without reopening the store", n, err)
	}
}
