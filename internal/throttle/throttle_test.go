package throttle_test

import (
	"context"
	"errors"
	"fmt"
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
				{"success resets the account but not the IP", func(t *testing.T, r *throttle.Regulator, c *clock) {
					failOnce(t, r, "pwd:dave", "10.9.9.9")
					failOnce(t, r, "pwd:dave", "10.9.9.9")
					if err := r.Succeed(ctx, "pwd:dave"); err != nil {
						t.Fatal(err)
					}
					failOnce(t, r, "pwd:dave", "10.9.9.9")
					if err := r.Check(ctx, "pwd:dave", ""); err != nil {
						t.Fatalf("reset did not reset: %v", err)
					}
					failOnce(t, r, "pwd:x", "10.9.9.9")
					failOnce(t, r, "pwd:y", "10.9.9.9")
					if err := r.Check(ctx, "pwd:z", "10.9.9.9"); !errors.Is(err, throttle.ErrLocked) {
						t.Fatalf("IP spray across accounts not locked: %v", err)
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
