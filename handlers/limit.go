package handlers

import (
	"context"
	"net/http"
	"time"
)

// Limiter bounds the requests served at once (server.max_in_flight). A request that finds no free
// slot waits at most the queue timeout (server.queue_timeout) and then gets 503
// temporarily_unavailable with Retry-After: under overload lingpai sheds load, so its memory
// (argon2id takes 19 MiB per password check), its database pool and its latency stay bounded.
type Limiter struct {
	slots chan struct{}
	wait  time.Duration
}

// NewLimiter returns a limiter of n slots; n < 1 means no limit (nil).
func NewLimiter(n int, wait time.Duration) *Limiter {
	if n < 1 {
		return nil
	}
	return &Limiter{slots: make(chan struct{}, n), wait: wait}
}

// acquire takes a slot, waiting up to the queue timeout; release gives it back.
func (l *Limiter) acquire(ctx context.Context) bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
	}
	if l.wait <= 0 {
		return false
	}
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

func (l *Limiter) release() { <-l.slots }

// exempt are the probes and the scraper: they must answer while the server sheds.
func exempt(path string) bool {
	return path == "/healthz" || path == "/readyz" || path == "/metrics"
}

var errOverloaded = rfcError(http.StatusServiceUnavailable, "temporarily_unavailable", "The server is busy; retry later.")
