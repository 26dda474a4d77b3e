package janitor_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/lingpai/lingpai/internal/ops/janitor"
	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/storagetest"
)

type counter map[string]int64

func (c counter) Swept(table string, n int64) { c[table] += n }

func TestSweepDeletesOnlyExpiredInBatches(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t, storage.Options{}, janitor.Models()...)
			ctx := context.Background()
			now := time.Now().UTC()
			db := st.DB(ctx)
			tests := []struct {
				name           string
				expired, alive int
			}{
				{"none expired", 0, 3},
				{"exactly one batch", 5, 2},
				{"several batches", 23, 4},
			}
			for i, tt := range tests {
				for n := 0; n < tt.expired+tt.alive; n++ {
					exp := now.Add(time.Hour)
					if n < tt.expired {
						exp = now.Add(-time.Minute)
					}
					key := fmt.Sprintf("case%d-%d", i, n)
					if err := db.Create(&storage.ThrottleCounter{SubjectKey: key, Bucket: 1, Count: 1, ExpiresAt: exp}).Error; err != nil {
						t.Fatal(err)
					}
					if err := db.Create(&storage.ThrottleLock{SubjectKey: key, LockedUntil: exp}).Error; err != nil {
						t.Fatal(err)
					}
					if err := db.Exec(`INSERT INTO access_tokens (signature, request_id, requested_at, client_id, subject, scopes,
						granted_scopes, audience, granted_audience, form, session, active, access_signature, expires_at, created_at)
						VALUES (?, 'r', ?, 'c', 's', '', '', '', '', '', ?, ?, '', ?, ?)`, key, now, []byte("{}"), true, exp, now).Error; err != nil {
						t.Fatal(err)
					}
				}
				obs := counter{}
				j := &janitor.Janitor{DB: st, Targets: janitor.CoreTargets(), BatchSize: 5, Observer: obs,
					Logger: slog.New(slog.DiscardHandler)}
				got, err := j.Sweep(ctx)
				if err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
				for _, table := range []string{"throttle_counters", "throttle_locks", "access_tokens"} {
					if got[table] != int64(tt.expired) || obs[table] != int64(tt.expired) {
						t.Fatalf("%s: %s deleted %d (observed %d), want %d", tt.name, table, got[table], obs[table], tt.expired)
					}
				}
			}
			var left int64
			db.Model(&storage.ThrottleCounter{}).Count(&left)
			if left != 3+2+4 {
				t.Fatalf("%d live counters left, want 9", left)
			}
		})
	}
}

func TestLeaseIsHeldByOneHolderAtATime(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t, storage.Options{}, janitor.Models()...)
			ctx := context.Background()
			t0 := time.Now()
			steps := []struct {
				holder string
				at     time.Duration
				want   bool
			}{
				{"a", 0, true},
				{"b", time.Second, false},      // a holds it
				{"a", 2 * time.Second, true},   // a renews (to 2s+10s)
				{"b", 11 * time.Second, false}, // still a's after the renewal
				{"b", 13 * time.Second, true},  // a's lease ran out
				{"a", 13*time.Second + time.Millisecond, false},
			}
			for i, s := range steps {
				got, err := janitor.AcquireLease(ctx, st.DB(ctx), "janitor", s.holder, t0.Add(s.at), 10*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if got != s.want {
					t.Fatalf("step %d: %s at %s got %v, want %v", i, s.holder, s.at, got, s.want)
				}
			}
		})
	}
}

// TestRunSweepsOnlyUnderTheLease: while another replica holds the lease, Run leaves rows alone;
// once the lease has lapsed, Run takes it and sweeps.
func TestRunSweepsOnlyUnderTheLease(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t, storage.Options{}, janitor.Models()...)
			ctx := context.Background()
			now := time.Now()
			if err := st.DB(ctx).Create(&storage.ThrottleCounter{SubjectKey: "k", Bucket: 1, Count: 1, ExpiresAt: now.Add(-time.Hour).UTC()}).Error; err != nil {
				t.Fatal(err)
			}
			// The other replica's lease is long enough that a slow first run (a loaded MySQL) still
			// ends inside it; the test then waits out the lease itself rather than a guessed sleep.
			const lease = 2 * time.Second
			held, err := janitor.AcquireLease(ctx, st.DB(ctx), "janitor", "other-replica", now, lease)
			if err != nil || !held {
				t.Fatalf("other replica's lease: %v %v", held, err)
			}
			obs := counter{}
			j := &janitor.Janitor{DB: st, Targets: janitor.CoreTargets(), BatchSize: 10, Observer: obs, Holder: "me",
				Logger: slog.New(slog.DiscardHandler)}
			runFor := func(d time.Duration) {
				ctx, cancel := context.WithTimeout(ctx, d)
				defer cancel()
				j.Run(ctx, 50*time.Millisecond)
			}
			runFor(200 * time.Millisecond)
			if obs["throttle_counters"] != 0 {
				t.Fatal("swept while another replica held the lease")
			}
			time.Sleep(time.Until(now.Add(lease)) + 50*time.Millisecond) // the other replica's lease lapses
			runFor(time.Second)
			if obs["throttle_counters"] != 1 {
				t.Fatalf("swept %d rows after the lease lapsed, want 1", obs["throttle_counters"])
			}
		})
	}
}
