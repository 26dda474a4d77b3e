package hashing

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"
)

func TestLimiter(t *testing.T) {
	ctx := context.Background()
	cheap := Hasher{Argon2: Argon2Params{Memory: 1024, Time: 1, Threads: 1}}
	slow, err := cheap.Hash(ctx, []byte("chosen"))
	if err != nil {
		t.Fatal(err)
	}
	fast := HashGenerated([]byte("generated"))

	tests := []struct {
		name string
		run  func(t *testing.T, h Hasher)
	}{
		{"a slow hash waits its bounded time, then ErrBusy (a fosite temporarily_unavailable)", func(t *testing.T, h Hasher) {
			release, err := h.Limit.Acquire(ctx) // the only slot is taken
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			start := time.Now()
			err = h.Compare(ctx, slow, []byte("chosen"))
			if !errors.Is(err, ErrBusy) || !errors.Is(err, fosite.ErrTemporarilyUnavailable) {
				t.Fatalf("Compare with the limit full = %v, want ErrBusy", err)
			}
			if waited := time.Since(start); waited < 40*time.Millisecond || waited > time.Second {
				t.Fatalf("waited %s, want about the 50ms queue wait", waited)
			}
			if _, err := h.Hash(ctx, []byte("x")); !errors.Is(err, ErrBusy) {
				t.Fatalf("Hash with the limit full = %v, want ErrBusy", err)
			}
			// Generated secrets are one SHA-256: never queued behind the slow ones.
			if err := h.Compare(ctx, fast, []byte("generated")); err != nil {
				t.Fatalf("fast Compare with the limit full = %v", err)
			}
		}},
		{"a freed slot is taken by a waiter", func(t *testing.T, h Hasher) {
			release, _ := h.Limit.Acquire(ctx)
			time.AfterFunc(10*time.Millisecond, release)
			if err := h.Compare(ctx, slow, []byte("chosen")); err != nil {
				t.Fatalf("Compare after the slot freed = %v", err)
			}
		}},
		{"never more than the cap in flight", func(t *testing.T, h Hasher) {
			h.Limit = NewLimiter(2, 10*time.Second)
			var inFlight, peak atomic.Int32
			var wg sync.WaitGroup
			for range 16 {
				wg.Go(func() {
					release, err := h.Limit.Acquire(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					n := inFlight.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					_ = compareSlow(string(slow), slow, []byte("chosen"))
					inFlight.Add(-1)
					release()
				})
			}
			wg.Wait()
			if p := peak.Load(); p != 2 {
				t.Fatalf("peak in flight %d, want 2", p)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := cheap
			h.Limit = NewLimiter(1, 50*time.Millisecond)
			tt.run(t, h)
		})
	}
}

func TestDefaultMaxConcurrent(t *testing.T) {
	if NewLimiter(0, time.Second).Cap() != DefaultMaxConcurrent() || DefaultMaxConcurrent() < 1 {
		t.Fatalf("cap %d, want GOMAXPROCS", NewLimiter(0, time.Second).Cap())
	}
}
