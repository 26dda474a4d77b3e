package opstest

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
	"github.com/lingpai/lingpai/storage"
)

// testClientChanges: a client changed through replica A (on node 1) is seen by replica B (on
// node 2) within server.cache_ttl: every request B starts later than cache_ttl (plus a little
// scheduling slack) after the change was committed gets the new answer, and none after it the old.
func testClientChanges(t *testing.T, p pair, ttl time.Duration) {
	cc := url.Values{"grant_type": {"client_credentials"}}
	tests := []struct {
		name   string
		change func(c *storage.Client, newSecret string)
		delete bool
		// after: the answer B must give with the old secret once the change is seen
		status  int
		errCode string
		// newWorks: the new secret must work at B once the change is seen
		newWorks bool
	}{
		{name: "secret rotated", change: func(c *storage.Client, s string) { c.SecretHash = hashing.HashGenerated([]byte(s)) },
			status: 401, errCode: "invalid_client", newWorks: true},
		{name: "client_credentials withdrawn", change: func(c *storage.Client, _ string) { c.GrantTypes = storage.StringList{"refresh_token"} },
			status: 400, errCode: "unauthorized_client"},
		{name: "client deleted", delete: true, status: 401, errCode: "invalid_client"},
	}
	const slack = 150 * time.Millisecond
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // one client each; the cases only wait, so they wait together
			id := fmt.Sprintf("svc-%d", i)
			old := p[0].Client(id, []string{"client_credentials", "refresh_token"}, []string{"api1"})
			newSecret, err := hashing.GenerateSecret()
			if err != nil {
				t.Fatal(err)
			}
			// B caches the client now, before the change.
			if r := p[1].Token(id, old, cc); r.Status != 200 {
				t.Fatalf("before the change, at replica B: %d %s", r.Status, r.Raw)
			}
			if tt.delete {
				err = p[0].Store.DeleteClient(context.Background(), id)
			} else {
				_, err = p[0].Store.ModifyClient(context.Background(), id, func(_ context.Context, c *storage.Client) error {
					tt.change(c, newSecret)
					return nil
				})
			}
			if err != nil {
				t.Fatal(err)
			}
			changed := time.Now()
			if r := p[0].Token(id, old, cc); r.Status != tt.status {
				t.Fatalf("at replica A right after its own change: %d %s; want %d", r.Status, r.Raw, tt.status)
			}
			var seen time.Duration = -1
			stale := 0
			for time.Since(changed) < 2*ttl+time.Second {
				start := time.Since(changed)
				r := p[1].Token(id, old, cc)
				isNew := r.Status == tt.status && r.Str("error") == tt.errCode
				switch {
				case isNew && seen < 0:
					seen = start
				case !isNew && r.Status != 200:
					t.Fatalf("replica B %s after the change: %d %s; want 200 (cached) or %d %s", start.Round(time.Millisecond), r.Status, r.Raw, tt.status, tt.errCode)
				case !isNew && seen >= 0:
					t.Fatalf("replica B took the old client back %s after the change (first saw the change at %s)", start.Round(time.Millisecond), seen.Round(time.Millisecond))
				case !isNew && start > ttl+slack:
					t.Fatalf("replica B still used the old client in a request started %s after the change; cache_ttl is %s", start.Round(time.Millisecond), ttl)
				case !isNew:
					stale++
				}
				time.Sleep(40 * time.Millisecond)
			}
			if seen < 0 {
				t.Fatalf("replica B never saw the change")
			}
			if tt.newWorks {
				if r := p[1].Token(id, newSecret, cc); r.Status != 200 {
					t.Fatalf("new secret at replica B: %d %s", r.Status, r.Raw)
				}
			}
			t.Logf("replica B: old client answered %d× after the change, the change seen from %s on (cache_ttl %s) and never lost in %s",
				stale, seen.Round(time.Millisecond), ttl, (2*ttl + time.Second).Round(time.Second))
		})
	}
}

// throughput is what one measurement found.
type throughput struct {
	ok, failed int64
	took       time.Duration
}

func (r throughput) String() string {
	return fmt.Sprintf("%.0f/s (%d in %s, %d failed)", float64(r.ok)/r.took.Seconds(), r.ok, r.took.Round(time.Millisecond), r.failed)
}

// measure runs op from workers goroutines, spread over the replicas, for d.
func measure(workers int, d time.Duration, op func(worker int) bool) throughput {
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < d {
				if op(w) {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return throughput{ok: ok.Load(), failed: failed.Load(), took: time.Since(start)}
}

// benchPair measures client_credentials and refresh_token (each worker rotating its own token
// family) over the two replicas of p, workers at a time, d each; secret belongs to client "app",
// which may use password and refresh_token for alice.
func benchPair(t *testing.T, p pair, secret, alicePassword string, workers int, d time.Duration) (cc, refresh throughput) {
	t.Helper()
	ccForm := url.Values{"grant_type": {"client_credentials"}}
	cc = measure(workers, d, func(w int) bool { return p[w%2].Token("app", secret, ccForm).Status == 200 })
	tokens := make([]string, workers)
	for w := range tokens {
		r := p[w%2].Token("app", secret, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePassword}, "scope": {"offline_access"}})
		if r.Status != 200 {
			t.Fatalf("sign-in for the refresh measurement: %d %s", r.Status, r.Raw)
		}
		tokens[w] = r.Str("refresh_token")
	}
	refresh = measure(workers, d, func(w int) bool {
		r := p[w%2].Token("app", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tokens[w]}})
		if r.Status != 200 {
			return false
		}
		tokens[w] = r.Str("refresh_token")
		return true
	})
	return cc, refresh
}

var retriesLine = regexp.MustCompile(`(?m)^lingpai_db_tx_retries_total (\d+)`)

// scrapeRetries reads lingpai_db_tx_retries_total from a replica's admin /metrics.
func scrapeRetries(t *testing.T, s *lingpaitest.Server) int {
	t.Helper()
	if s.App.AdminHandler == nil {
		t.Fatal("no admin handler: server.admin_addr is empty")
	}
	rec := httptest.NewRecorder()
	s.App.AdminHandler.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	m := retriesLine.FindSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics has no lingpai_db_tx_retries_total")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// retriesSince reports the retries both replicas counted since before (from /metrics).
func retriesSince(t *testing.T, p pair, before [2]int) (int, [2]int) {
	t.Helper()
	var now [2]int
	for i := range p {
		now[i] = scrapeRetries(t, p[i])
	}
	return now[0] - before[0] + now[1] - before[1], now
}
