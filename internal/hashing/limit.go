package hashing

import (
	"context"
	"runtime"
	"time"

	"github.com/ory/fosite"
)

// ErrBusy means the slow-hash limit stayed full for the whole wait: the caller answers 503
// temporarily_unavailable (with Retry-After), never "wrong secret", and counts no failure. It is
// a fosite error value so it reaches handlers.WriteError as one.
var ErrBusy = fosite.ErrTemporarilyUnavailable.WithHint("Too many credential checks are in progress; retry shortly.")

// ArgonMemoryBytes is the memory one default argon2id check holds while it runs: what each slot
// of a Limiter may cost (19 MiB).
const ArgonMemoryBytes = int64(19 << 20)

// DefaultMaxConcurrent is the default of security.max_concurrent_hashes: one slow hash per CPU
// the process may use. More in flight buys no throughput (the work is CPU-bound) and costs
// memory (argon2id holds 19 MiB per check) and tail latency.
func DefaultMaxConcurrent() int { return max(1, runtime.GOMAXPROCS(0)) }

// Limiter bounds the slow hashing (argon2id, bcrypt, PBKDF2) in flight in the whole process, so a
// flood of wrong secrets or passwords queues instead of allocating memory without bound. A nil
// *Limiter does not limit.
type Limiter struct {
	slots chan struct{}
	wait  time.Duration
}

// NewLimiter allows n hashes at once; a caller waits at most wait for a slot.
func NewLimiter(n int, wait time.Duration) *Limiter {
	if n < 1 {
		n = DefaultMaxConcurrent()
	}
	return &Limiter{slots: make(chan struct{}, n), wait: wait}
}

// Cap is how many hashes may run at once.
func (l *Limiter) Cap() int {
	if l == nil {
		return 0
	}
	return cap(l.slots)
}

// Acquire takes a slot, waiting at most the limiter's wait (or until ctx ends). The returned
// release must be called once the hash is done.
func (l *Limiter) Acquire(ctx context.Context) (release func(), err error) {
	if l == nil {
		return func() {}, nil
	}
	select {
	case l.slots <- struct{}{}:
		return l.release, nil
	default:
	}
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return l.release, nil
	case <-t.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ErrBusy.WithWrap(ctx.Err())
	}
}

func (l *Limiter) release() { <-l.slots }
