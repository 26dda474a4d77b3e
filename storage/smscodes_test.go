package storage_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/storagetest"
)

// TestRestoreSMSCode: taking back a code whose sending failed puts the replaced row back exactly
// (or removes the row when there was none), unless the row moved on meanwhile.
func TestRestoreSMSCode(t *testing.T) {
	const phone = "+8613800138000"
	t0 := time.Date(2030, 5, 1, 2, 0, 0, 0, time.UTC)
	t1 := t0.Add(2 * time.Minute)
	cases := []struct {
		name     string
		previous bool                                                      // a code h0 was stored at t0, with one wrong try
		between  func(t *testing.T, ctx context.Context, s *storage.Store) // runs after h1 replaced it
		want     []byte                                                    // hash left stored; nil = no row
		attempts int
	}{
		{name: "no previous code", want: nil},
		{name: "previous code", previous: true, want: []byte("h0"), attempts: 1},
		{name: "wrong tries meanwhile count", previous: true, want: []byte("h0"), attempts: 3,
			between: func(t *testing.T, ctx context.Context, s *storage.Store) {
				for range 2 {
					if ok, err := s.RedeemSMSCode(ctx, phone, []byte("h0"), 5, t1); ok || err != nil {
						t.Fatalf("old code while replaced: %v %v", ok, err)
					}
				}
			}},
		{name: "redeemed meanwhile", previous: true, want: []byte("h1"),
			between: func(t *testing.T, ctx context.Context, s *storage.Store) {
				if ok, err := s.RedeemSMSCode(ctx, phone, []byte("h1"), 5, t1); !ok || err != nil {
					t.Fatalf("new code: %v %v", ok, err)
				}
			}},
		{name: "replaced again meanwhile", previous: true, want: []byte("h2"),
			between: func(t *testing.T, ctx context.Context, s *storage.Store) {
				c := &storage.SMSCode{Phone: phone, CodeHash: []byte("h2"), SentAt: t1, ExpiresAt: t1.Add(5 * time.Minute)}
				if _, err := s.ReplaceSMSCode(ctx, c, t1); err != nil {
					t.Fatal(err)
				}
			}},
	}
	for _, b := range storagetest.Backends() {
		for _, tc := range cases {
			t.Run(b.Name+"/"+tc.name, func(t *testing.T) {
				s := b.Open(t, storage.Options{})
				ctx := context.Background()
				var before *storage.SMSCode
				if tc.previous {
					c := &storage.SMSCode{Phone: phone, CodeHash: []byte("h0"), SentAt: t0, ExpiresAt: t0.Add(5 * time.Minute)}
					if _, err := s.ReplaceSMSCode(ctx, c, t0); err != nil {
						t.Fatal(err)
					}
					if ok, _ := s.RedeemSMSCode(ctx, phone, []byte("bad"), 5, t0); ok {
						t.Fatal("wrong hash redeemed")
					}
					before = smsRow(t, s, phone)
				}
				// Too early: refused, the current row returned untouched.
				if tc.previous {
					early := &storage.SMSCode{Phone: phone, CodeHash: []byte("hx"), SentAt: t0, ExpiresAt: t0.Add(time.Minute)}
					cur, err := s.ReplaceSMSCode(ctx, early, t0.Add(-time.Minute))
					if !errors.Is(err, storage.ErrTooEarly) || cur == nil || !cur.SentAt.Equal(t0) {
						t.Fatalf("too early: %+v %v", cur, err)
					}
				}
				prev, err := s.ReplaceSMSCode(ctx, &storage.SMSCode{Phone: phone, CodeHash: []byte("h1"), SentAt: t1, ExpiresAt: t1.Add(5 * time.Minute)},
					t1.Add(-time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				if (prev == nil) != (before == nil) || prev != nil && (string(prev.CodeHash) != "h0" || prev.Attempts != 1) {
					t.Fatalf("replaced row: %+v", prev)
				}
				if tc.between != nil {
					tc.between(t, ctx, s)
				}
				if err := s.RestoreSMSCode(ctx, phone, []byte("h1"), prev); err != nil {
					t.Fatal(err)
				}
				after := smsRow(t, s, phone)
				switch {
				case tc.want == nil:
					if after != nil {
						t.Fatalf("row left: %+v", after)
					}
				case after == nil:
					t.Fatalf("row gone, want %s", tc.want)
				case string(after.CodeHash) != string(tc.want):
					t.Fatalf("stored %s, want %s", after.CodeHash, tc.want)
				case string(tc.want) == "h0" && (after.Attempts != tc.attempts || after.Used || !after.SentAt.Equal(before.SentAt) ||
					!after.ExpiresAt.Equal(before.ExpiresAt)):
					t.Fatalf("restored %+v, was %+v (attempts want %d)", after, before, tc.attempts)
				}
				if string(tc.want) == "h0" {
					if ok, err := s.RedeemSMSCode(ctx, phone, []byte("h0"), 5, t1); !ok || err != nil {
						t.Fatalf("restored code: %v %v", ok, err)
					}
				}
			})
		}
	}
}

func smsRow(t *testing.T, s *storage.Store, phone string) *storage.SMSCode {
	t.Helper()
	var r storage.SMSCode
	err := s.DB(context.Background()).Where("phone = ?", phone).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return &r
}

// TestRedeemSMSCodeParallel: 49 wrong codes and the right one redeemed at once compare at most
// maxAttempts codes (each try is counted before the comparison), and exactly the tries counted
// are left in the row.
func TestRedeemSMSCodeParallel(t *testing.T) {
	const phone, maxAttempts = "+8613800138001", 5
	t0 := time.Date(2030, 5, 1, 2, 0, 0, 0, time.UTC)
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s := b.Open(t, storage.Options{})
			ctx := context.Background()
			if _, err := s.ReplaceSMSCode(ctx, &storage.SMSCode{Phone: phone, CodeHash: []byte("right"), SentAt: t0, ExpiresAt: t0.Add(5 * time.Minute)}, t0); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var redeemed atomic.Int32
			for i := range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					hash := []byte(fmt.Sprintf("wrong-%d", i))
					if i == 25 {
						hash = []byte("right")
					}
					ok, err := s.RedeemSMSCode(ctx, phone, hash, maxAttempts, t0.Add(time.Second))
					if err != nil {
						t.Error(err)
					}
					if ok {
						redeemed.Add(1)
					}
				}()
			}
			wg.Wait()
			row := smsRow(t, s, phone)
			t.Logf("%s: 50 parallel redemptions left attempts=%d used=%v (max %d)", b.Name, row.Attempts, row.Used, maxAttempts)
			if row.Attempts > maxAttempts {
				t.Fatalf("%d tries compared, want at most %d", row.Attempts, maxAttempts)
			}
			if redeemed.Load() > 1 || (redeemed.Load() == 1) != row.Used {
				t.Fatalf("redeemed %d times, used=%v", redeemed.Load(), row.Used)
			}
			if ok, _ := s.RedeemSMSCode(ctx, phone, []byte("right"), maxAttempts, t0.Add(2*time.Second)); ok {
				t.Fatal("right code redeemed after the limit or a second time")
			}
		})
	}
}
