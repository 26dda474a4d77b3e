package throttle_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lingpai/lingpai/internal/throttle"
	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/storagetest"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestRegulator(t *testing.T) {
	ctx := context.Background()
	opts := throttle.Options{MaxFailures: 3, IPMaxFailures: 5, Window: 15 * time.Minute, Lockout: 10 * time.Minute}
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			tests := []struct {
				name string
				run  func(t *testing.T, r *throttle.Regulator, c *clock)
			}{
				{"account locks at its limit and unlocks after lockout", func(t *testing.T, r *throttle.Regulator, c *clock) {
					for i := 0; i < 2; i++ {
						failOnce(t, r, "pwd:alice", "10.0.0.1")
					}
					if err := r.Check(ctx, "pwd:alice", "10.0.0.1"); err != nil {
						t.Fatalf("locked too early: %v", err)
					}
					failOnce(t, r, "pwd:alice", "10.0.0.1")
					if err := r.Check(ctx, "pwd:alice", "10.0.0.2"); !errors.Is(err, throttle.ErrLocked) {
						t.Fatalf("want locked from any IP, got %v", err)
					}
					if err := r.Check(ctx, "pwd:bob", "10.0.0.1"); err != nil {
						t.Fatalf("other account on same IP locked: %v", err)
					}
					c.t = c.t.Add(11 * time.Minute)
					if err := r.Check(ctx, "pwd:alice", "10.0.0.1"); err != nil {
						t.Fatalf("still locked after lockout: %v", err)
					}
				}},
				{"failures outside the window age out", func(t *testing.T, r *throttle.Regulator, c *clock) {
					failOnce(t, r, "pwd:carol", "")
					failOnce(t, r, "pwd:carol", "")
					c.t = c.t.Add(16 * time.Minute)
					failOnce(t, r, "pwd:carol", "")
					if err := r.Check(ctx, "pwd:carol", ""); err != nil {
						t.Fatalf("old failures still counted: %v", err)
					}
				}},
				{"success gives its slot back and keeps earlier failures", func(t *testing.T, r *throttle.Regulator, c *clock) {
					failOnce(t, r, "pwd:dave", "10.9.9.9")
					failOnce(t, r, "pwd:dave", "10.9.9.9")
					for range 3 {
						if _, err := r.Attempt(ctx, "pwd:dave", "10.9.9.9", func() error { return nil }, isBad); err != nil {
							t.Fatalf("right password refused: %v", err)
						}
					}
					if _, err := r.Attempt(ctx, "pwd:dave", "10.9.9.9", func() error { return errBad }, isBad); !errors.Is(err, errBad) {
						t.Fatalf("third failure: %v", err)
					}
					if err := r.Check(ctx, "pwd:dave", ""); !errors.Is(err, throttle.ErrLocked) {
						t.Fatalf("successes wiped failures: %v", err)
					}
					failOnce(t, r, "pwd:x", "10.9.9.9")
					failOnce(t, r, "pwd:y", "10.9.9.9")
					if err := r.Check(ctx, "pwd:z", "10.9.9.9"); !errors.Is(err, throttle.ErrLocked) {
						t.Fatalf("IP spray across accounts not locked: %v", err)
					}
				}},
				{"an outage gives the slot back", func(t *testing.T, r *throttle.Regulator, c *clock) {
					down := errors.New("directory down")
					for range 5 {
						if _, err := r.Attempt(ctx, "ad:erin", "10.8.8.8", func() error { return down }, isBad); !errors.Is(err, down) {
							t.Fatalf("outage: %v", err)
						}
					}
					if err := r.Check(ctx, "ad:erin", "10.8.8.8"); err != nil {
						t.Fatalf("outages counted as failures: %v", err)
					}
				}},
				{"any length of account is counted", func(t *testing.T, r *throttle.Regulator, c *clock) {
					long := "pwd:" + strings.Repeat("x", 5000)
					for range 3 {
						failOnce(t, r, long, "")
					}
					if err := r.Check(ctx, long, ""); !errors.Is(err, throttle.ErrLocked) {
						t.Fatalf("long account not locked: %v", err)
					}
				}},
				{"parallel right passwords all get through", func(t *testing.T, r *throttle.Regulator, c *clock) {
					var wg sync.WaitGroup
					var refused atomic.Int32
					for range 12 { // four times max_failures, from one IP
						wg.Add(1)
						go func() {
							defer wg.Done()
							if _, err := r.Attempt(ctx, "pwd:gina", "10.6.6.6", func() error {
								time.Sleep(20 * time.Millisecond)
								return nil
							}, isBad); err != nil {
								refused.Add(1)
							}
						}()
					}
					wg.Wait()
					if refused.Load() != 0 {
						t.Fatalf("%d of 12 parallel right passwords refused", refused.Load())
					}
				}},
				{"parallel attempts verify at most max_failures", func(t *testing.T, r *throttle.Regulator, c *clock) {
					var ran, okRuns atomic.Int32
					var wg sync.WaitGroup
					for i := range 50 {
						wg.Add(1)
						go func() {
							defer wg.Done()
							_, _ = r.Attempt(ctx, "pwd:frank", "10.7.7.7", func() error {
								ran.Add(1)
								time.Sleep(20 * time.Millisecond) // as long as a password hash takes
								if i == 10 {
									okRuns.Add(1)
									return nil
								}
								return errBad
							}, isBad)
						}()
					}
					wg.Wait()
					t.Logf("50 parallel attempts ran %d verifications (%d right), max_failures 3", ran.Load(), okRuns.Load())
					if failed := ran.Load() - okRuns.Load(); failed > 3 {
						t.Fatalf("%d failed verifications, want at most 3", failed)
					}
					if _, err := r.Attempt(ctx, "pwd:frank", "", func() error { return nil }, isBad); !errors.Is(err, throttle.ErrLocked) {
						t.Fatalf("right password after the limit: %v", err)
					}
				}},
			}
			for i, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					st := b.Open(t, storage.Options{})
					c := &clock{t: time.Date(2026, 11, 25, 10, i, 0, 0, time.UTC)}
					tt.run(t, throttle.New(st, opts, c.now), c)
				})
			}
		})
	}
}

func failOnce(t *testing.T, r *throttle.Regulator, account, ip string) {
	t.Helper()
	if _, err := r.Fail(ctx(), account, ip); err != nil {
		t.Fatal(fmt.Errorf("fail: %w", err))
	}
}

func ctx() context.Context { return context.Background() }

var errBad = errors.New("bad password")

func isBad(err error) bool { return errors.Is(err, errBad) }
