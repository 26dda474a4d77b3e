package server_test

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
)

// verifications counts the password checks that ran, from the audit log: every check ends in a
// signin.succeeded or a signin.failed with a reason other than "throttled" (refused before it ran).
func verifications(logs ...*lingpaitest.SyncBuffer) (failed, succeeded int) {
	for _, l := range logs {
		for _, line := range strings.Split(l.String(), "\n") {
			switch {
			case strings.Contains(line, `"event":"signin.succeeded"`):
				succeeded++
			case strings.Contains(line, `"event":"signin.failed"`) && !strings.Contains(line, `"reason":"throttled"`):
				failed++
			}
		}
	}
	return failed, succeeded
}

// TestParallelGuessesAreReservedFirst: 49 wrong passwords and the right one sent at once, split
// over two replicas on one database, run at most throttle.max_failures wrong verifications; once
// the limit is reached the right password is refused too. The same holds per client IP.
func TestParallelGuessesAreReservedFirst(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		const maxFailures = 5
		s := lingpaitest.Start(t, backend, func(c *config.Config) { c.Throttle.MaxFailures = maxFailures })
		r := s.Replica()
		secret := s.Client("app", []string{"password"}, []string{"api1"})
		s.User("paula", "paula-password")
		form := func(u, p string) url.Values {
			return url.Values{"grant_type": {"password"}, "username": {u}, "password": {p}}
		}
		var wg sync.WaitGroup
		statuses := make([]int, 50)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				srv, pw := s, fmt.Sprintf("wrong-%d", i)
				if i%2 == 1 {
					srv = r
				}
				if i == 25 {
					pw = "paula-password"
				}
				statuses[i] = srv.Token("app", secret, form("paula", pw)).Status
			}()
		}
		wg.Wait()
		failed, succeeded := verifications(s.Logs, r.Logs)
		t.Logf("%s: 50 parallel guesses ran %d failed and %d successful verifications (max_failures %d); right password answered %d",
			backend, failed, succeeded, maxFailures, statuses[25])
		if failed > maxFailures || succeeded > 1 {
			t.Fatalf("%d wrong passwords verified, want at most %d", failed, maxFailures)
		}
		if got := s.Token("app", secret, form("paula", "paula-password")); got.Status != 400 || got.Str("error") != "invalid_grant" {
			t.Fatalf("right password after the limit: %d %s", got.Status, got.Raw)
		}
	})
}

// TestParallelGuessesPerIP: one client IP spraying many accounts at once gets at most
// throttle.ip_max_failures verifications.
func TestParallelGuessesPerIP(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		const ipMax = 10
		s := lingpaitest.Start(t, backend, func(c *config.Config) { c.Throttle.IPMaxFailures = ipMax })
		r := s.Replica()
		secret := s.Client("app", []string{"password"}, []string{"api1"})
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				srv := s
				if i%2 == 1 {
					srv = r
				}
				srv.Token("app", secret, url.Values{"grant_type": {"password"}, "username": {fmt.Sprintf("nobody%d", i)}, "password": {"x"}})
			}()
		}
		wg.Wait()
		failed, _ := verifications(s.Logs, r.Logs)
		t.Logf("%s: 40 parallel guesses from one IP ran %d verifications (ip_max_failures %d)", backend, failed, ipMax)
		if failed > ipMax {
			t.Fatalf("%d verifications from one IP, want at most %d", failed, ipMax)
		}
	})
}
