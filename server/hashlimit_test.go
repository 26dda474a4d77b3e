package server_test

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
	"github.com/lingpai/lingpai/storage"
)

// peakRSS is the process's peak resident set since the last resetPeakRSS, in bytes.
func peakRSS(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// resetPeakRSS sets the peak back to the current RSS (proc(5), clear_refs "5").
func resetPeakRSS(t *testing.T) {
	t.Helper()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Fatal(err)
	}
}

// TestWrongSecretFloodIsBounded is issue 12 item 2: 200 parallel requests with a wrong secret for
// a client whose secret a person chose (argon2id) must neither run 200 argon2id checks at once
// (19 MiB each) nor starve the health probe. Each answer is the usual 401 invalid_client or, when
// the hashing queue stayed full, 503 temporarily_unavailable with Retry-After.
func TestWrongSecretFloodIsBounded(t *testing.T) {
	const parallel, rssLimit = 200, 256 << 20
	each(t, func(t *testing.T, backend string) {
		s := lingpaitest.Start(t, backend, func(c *config.Config) {
			// The regulator would lock the IP after 50 failures and hide the hashing bound.
			c.Throttle.IPMaxFailures, c.Throttle.MaxFailures = 100000, 100000
			c.Security.MaxConcurrentHashes = 2
		})
		hash, err := hashing.Hasher{}.Hash(context.Background(), []byte("a secret a person chose"))
		if err != nil {
			t.Fatal(err)
		}
		s.Client("chosen", []string{"client_credentials"}, []string{"api"}, func(c *storage.Client) { c.SecretHash = hash })

		resetPeakRSS(t)
		base := peakRSS(t)
		stop := make(chan struct{})
		var probes, slowProbes atomic.Int32
		var probeWG sync.WaitGroup
		probeWG.Go(func() {
			client := &http.Client{Timeout: 5 * time.Second}
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				start := time.Now()
				resp, err := client.Get(s.URL + "/healthz")
				if err != nil || resp.StatusCode != http.StatusOK || time.Since(start) > time.Second {
					slowProbes.Add(1)
				}
				if err == nil {
					resp.Body.Close()
				}
				probes.Add(1)
			}
		})
		var (
			mu     sync.Mutex
			counts = map[string]int{}
			wg     sync.WaitGroup
		)
		form := url.Values{"grant_type": {"client_credentials"}}
		for range parallel {
			wg.Go(func() {
				r := s.Token("chosen", "a wrong guess", form)
				key := strconv.Itoa(r.Status) + " " + r.Str("error")
				if r.Status == http.StatusServiceUnavailable && r.Header.Get("Retry-After") == "" {
					key += " without Retry-After"
				}
				mu.Lock()
				counts[key]++
				mu.Unlock()
			})
		}
		wg.Wait()
		close(stop)
		probeWG.Wait()
		peak := peakRSS(t)
		t.Logf("%s: answers %v; peak RSS %d MiB (before %d MiB); %d health probes, %d slow or failed",
			backend, counts, peak>>20, base>>20, probes.Load(), slowProbes.Load())
		for k := range counts {
			if k != "401 invalid_client" && k != "503 temporarily_unavailable" {
				t.Errorf("unexpected answer %q", k)
			}
		}
		if peak > rssLimit {
			t.Errorf("peak RSS %d MiB, want under %d MiB", peak>>20, rssLimit>>20)
		}
		if probes.Load() == 0 || slowProbes.Load() > 0 {
			t.Errorf("/healthz: %d probes, %d slow (>1s) or failed", probes.Load(), slowProbes.Load())
		}
	})
}

// TestPasswordGrantOverloadIs503 checks the password grant's side of the bound: a request that
// finds the hashing queue full is 503 temporarily_unavailable with Retry-After (not the 500 of an
// unexpected error, and not invalid_grant, which would count against the user).
func TestPasswordGrantOverloadIs503(t *testing.T) {
	s := lingpaitest.Start(t, "sqlite", func(c *config.Config) {
		c.Security.MaxConcurrentHashes, c.Security.HashQueueWait = 1, time.Millisecond
	})
	s.Client("app", []string{"password"}, []string{"api"})
	secret := s.Client("app2", []string{"password"}, []string{"api"})
	s.User("alice", "alice-password")
	var (
		mu     sync.Mutex
		counts = map[string]int{}
		wg     sync.WaitGroup
	)
	for range 24 {
		wg.Go(func() {
			r := s.Token("app2", secret, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-password"}})
			key := strconv.Itoa(r.Status) + " " + r.Str("error")
			if r.Status == http.StatusServiceUnavailable && r.Header.Get("Retry-After") == "" {
				key += " without Retry-After"
			}
			mu.Lock()
			counts[key]++
			mu.Unlock()
		})
	}
	wg.Wait()
	t.Logf("answers %v", counts)
	for k := range counts {
		if k != "200 " && k != "503 temporarily_unavailable" {
			t.Errorf("unexpected answer %q", k)
		}
	}
	if counts["503 temporarily_unavailable"] == 0 || counts["200 "] == 0 {
		t.Errorf("want both issued tokens and 503s with one slot and a 1ms queue, got %v", counts)
	}
}

// TestIntrospectionOverloadIs503: fosite's introspection drops the cause of a failed client
// authentication, so without care a full hashing queue would read as a wrong secret (401).
func TestIntrospectionOverloadIs503(t *testing.T) {
	s := lingpaitest.Start(t, "sqlite", func(c *config.Config) {
		c.Security.MaxConcurrentHashes, c.Security.HashQueueWait = 1, time.Millisecond
	})
	h := hashing.Hasher{Argon2: hashing.Argon2Params{Memory: 4096, Time: 2, Threads: 1}}
	hash, _ := h.Hash(context.Background(), []byte("chosen secret"))
	s.Client("rs", []string{"client_credentials"}, []string{"api"}, func(c *storage.Client) { c.SecretHash = hash })
	secret := s.Client("app", []string{"client_credentials"}, []string{"api"})
	at := s.Token("app", secret, url.Values{"grant_type": {"client_credentials"}}).Str("access_token")
	var (
		mu     sync.Mutex
		counts = map[string]int{}
		wg     sync.WaitGroup
	)
	for range 24 {
		wg.Go(func() {
			r := s.Post("/connect/introspect", url.Values{"token": {at}}, "rs", "chosen secret")
			key := strconv.Itoa(r.Status) + " " + r.Str("error")
			if r.Status == http.StatusServiceUnavailable && r.Header.Get("Retry-After") == "" {
				key += " without Retry-After"
			}
			mu.Lock()
			counts[key]++
			mu.Unlock()
		})
	}
	wg.Wait()
	t.Logf("answers %v", counts)
	for k := range counts {
		if k != "200 " && k != "503 temporarily_unavailable" {
			t.Errorf("unexpected answer %q", k)
		}
	}
	if counts["503 temporarily_unavailable"] == 0 {
		t.Errorf("no 503 with one hashing slot and a 1ms queue: %v", counts)
	}
}
