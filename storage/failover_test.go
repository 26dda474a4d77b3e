package storage_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/storagetest"
)

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

// TestDSNListSkipsDeadServer: with database.dsns, a first server that refuses connections is
// passed over at start, and the store works on the next; with every server dead, Open fails with
// ErrUnavailable. (Failover and failback while running are shown on Galera in storage/clustertest.)
func TestDSNListSkipsDeadServer(t *testing.T) {
	port := closedPort(t)
	cases := []struct {
		driver string
		live   func(t testing.TB) string
		dead   string
	}{
		{"mysql", storagetest.MySQLDSN, fmt.Sprintf("root@tcp(127.0.0.1:%d)/x?timeout=1s", port)},
		{"postgres", storagetest.PostgresDSN, fmt.Sprintf("postgres://root@127.0.0.1:%d/x?sslmode=disable&connect_timeout=1", port)},
	}
	for _, tt := range cases {
		t.Run(tt.driver, func(t *testing.T) {
			live := tt.live(t)
			s, err := storage.Open(storage.Options{Driver: tt.driver, DSNs: []string{tt.dead, live}})
			if err != nil {
				t.Fatalf("open with a dead first server: %v", err)
			}
			t.Cleanup(func() { _ = s.Close() })
			ctx := context.Background()
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if n, err := s.AddCount(ctx, "k", 1, 1, time.Now().Add(time.Hour)); err != nil || n != 1 {
				t.Fatalf("write through the list: %d, %v", n, err)
			}
			if err := s.Ping(ctx); err != nil {
				t.Fatalf("ping: %v", err)
			}
			_, err = storage.Open(storage.Options{Driver: tt.driver, DSNs: []string{tt.dead, tt.dead}})
			if !errors.Is(err, storage.ErrUnavailable) {
				t.Fatalf("open with every server dead: %v; want ErrUnavailable", err)
			}
		})
	}
	if _, err := storage.Open(storage.Options{Driver: "sqlite", DSNs: []string{"a.db", "b.db"}}); err == nil {
		t.Fatal("sqlite accepted a list of DSNs")
	}
}
