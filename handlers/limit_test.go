package handlers

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Beyond max_in_flight a request waits at most queue_timeout, then is shed with 503 and
// Retry-After; the probes are never shed; a freed slot serves the next request.
func TestLimiterSheds(t *testing.T) {
	release := make(chan struct{})
	var served sync.WaitGroup
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			served.Done()
			<-release
		}
		WriteJSON(w, 200, map[string]string{"ok": "yes"})
	})
	mw := &Middleware{Logger: slog.New(slog.DiscardHandler), Limit: NewLimiter(2, 100*time.Millisecond)}
	srv := httptest.NewServer(mw.Wrap(slow))
	defer srv.Close()
	get := func(path string) (*http.Response, time.Duration) {
		start := time.Now()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Error(err)
			return nil, 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp, time.Since(start)
	}
	served.Add(2)
	var busy sync.WaitGroup
	for range 2 {
		busy.Add(1)
		go func() { defer busy.Done(); get("/slow") }()
	}
	served.Wait() // both slots taken
	resp, took := get("/token")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || took < 100*time.Millisecond || took > time.Second {
		t.Fatalf("third request: %d, Retry-After %q, after %s (want 503 with Retry-After after ~100ms)", resp.StatusCode, resp.Header.Get("Retry-After"), took)
	}
	if resp, _ := get("/healthz"); resp.StatusCode != 200 {
		t.Fatalf("/healthz shed: %d", resp.StatusCode)
	}
	close(release)
	busy.Wait()
	if resp, _ := get("/token"); resp.StatusCode != 200 {
		t.Fatalf("after the slots were freed: %d", resp.StatusCode)
	}
}
