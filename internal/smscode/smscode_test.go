package smscode_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/lingpai/lingpai/internal/smscode"
	"github.com/lingpai/lingpai/internal/testutil/testclock"
	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/storagetest"
)

const testPhone, testIP = "+8613800138000", "192.0.2.1"

// sender records what it sent; fail, when set, is the gateway's answer instead. hold, when set,
// keeps a send in flight until it is closed.
type sender struct {
	mu    sync.Mutex
	codes []string
	fail  error
	hold  chan struct{}
	began chan struct{}
}

func (s *sender) Send(_ context.Context, _, code string, _ time.Duration) error {
	s.mu.Lock()
	fail, hold, began := s.fail, s.hold, s.began
	s.mu.Unlock()
	if began != nil {
		close(began)
	}
	if hold != nil {
		<-hold
	}
	if fail != nil {
		return fail
	}
	s.mu.Lock()
	s.codes = append(s.codes, code)
	s.mu.Unlock()
	return nil
}

func (s *sender) set(fail error) {
	s.mu.Lock()
	s.fail = fail
	s.mu.Unlock()
}

func (s *sender) last(t *testing.T) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.codes) == 0 {
		t.Fatal("no code was sent")
	}
	return s.codes[len(s.codes)-1]
}

var opts = smscode.Options{CodeLength: 6, TTL: 5 * time.Minute, MaxAttempts: 5, ResendInterval: time.Minute,
	HourlyLimit: 5, DailyLimit: 10, IPHourlyLimit: 10, DailyBudget: 100}

func newService(t *testing.T, st *storage.Store) (*smscode.Service, *sender, *testclock.Clock) {
	t.Helper()
	snd := &sender{}
	clk := testclock.New(time.Date(2030, 5, 1, 2, 0, 0, 0, time.UTC))
	key := []byte("test-key-test-key-test-key-32byt")
	return smscode.New(st, snd, key, opts, clk.Now, slog.New(slog.DiscardHandler)), snd, clk
}

// row returns phone's stored code, nil when there is none.
func row(t *testing.T, st *storage.Store, phone string) *storage.SMSCode {
	t.Helper()
	var r storage.SMSCode
	err := st.DB(context.Background()).Where("phone = ?", phone).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return &r
}

// count reads a send-limit counter without changing it.
func count(t *testing.T, st *storage.Store, key string, bucket int64) int {
	t.Helper()
	n, err := st.AddCount(context.Background(), key, bucket, 0, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func wrongCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

func checkSendErr(t *testing.T, err error, wantLimit string) {
	t.Helper()
	var le *smscode.LimitError
	switch {
	case wantLimit == "" && !errors.Is(err, smscode.ErrSendFailed):
		t.Fatalf("failed send: got %v, want ErrSendFailed", err)
	case wantLimit != "" && (!errors.As(err, &le) || le.Limit != wantLimit):
		t.Fatalf("failed send: got %v, want limit %s", err, wantLimit)
	}
}

// TestFailedSendKeepsPreviousCode: a gateway that does not take a new code leaves the phone's
// earlier code exactly as it was (still redeemable, its wrong tries still counted), and the limits
// count only the code that was sent.
func TestFailedSendKeepsPreviousCode(t *testing.T) {
	cases := []struct {
		name      string
		sendErr   error
		wantLimit string // "" means ErrSendFailed
		previous  bool   // an earlier code was sent
	}{
		{"gateway down, earlier code", errors.New("connection refused"), "", true},
		{"gateway 429, earlier code", fmt.Errorf("vendor said: %w", smscode.ErrGatewayLimited), "gateway", true},
		{"gateway down, first code", errors.New("connection refused"), "", false},
		{"gateway 429, first code", fmt.Errorf("vendor said: %w", smscode.ErrGatewayLimited), "gateway", false},
	}
	for _, b := range storagetest.Backends() {
		for _, tc := range cases {
			t.Run(b.Name+"/"+tc.name, func(t *testing.T) {
				st := b.Open(t, storage.Options{})
				svc, snd, clk := newService(t, st)
				ctx := context.Background()
				hour := clk.Now().Unix() / 3600
				var first string
				sent := 0
				if tc.previous {
					if _, err := svc.Request(ctx, testPhone, testIP, true); err != nil {
						t.Fatal(err)
					}
					sent = 1
					first = snd.last(t)
					if ok, err := svc.Redeem(ctx, testPhone, wrongCode(first)); ok || err != nil {
						t.Fatalf("wrong code: %v %v", ok, err)
					}
					clk.Add(opts.ResendInterval + time.Second)
				}
				before := row(t, st, testPhone)
				if tc.previous && (before == nil || before.Attempts != 1) {
					t.Fatalf("earlier code row: %+v", before)
				}

				snd.set(tc.sendErr)
				_, err := svc.Request(ctx, testPhone, testIP, true)
				checkSendErr(t, err, tc.wantLimit)

				after := row(t, st, testPhone)
				switch {
				case before == nil && after != nil:
					t.Fatalf("a code that was never sent was left stored: %+v", after)
				case before != nil && after == nil:
					t.Fatal("the failed send deleted the earlier code")
				case before != nil && (string(after.CodeHash) != string(before.CodeHash) || after.Attempts != before.Attempts ||
					after.Used != before.Used || !after.SentAt.Equal(before.SentAt) || !after.ExpiresAt.Equal(before.ExpiresAt)):
					t.Fatalf("the failed send changed the earlier code:\nbefore %+v\nafter  %+v", before, after)
				}
				for _, key := range []string{"sms-phone-h:" + testPhone, "sms-ip-h:" + testIP} {
					if n := count(t, st, key, hour); n != sent {
						t.Errorf("%s counts %d, want %d (only sent codes)", key, n, sent)
					}
				}
				if tc.previous {
					if ok, err := svc.Redeem(ctx, testPhone, first); !ok || err != nil {
						t.Fatalf("the earlier code no longer redeems: %v %v", ok, err)
					}
					if ok, _ := svc.Redeem(ctx, testPhone, first); ok {
						t.Fatal("the earlier code redeemed twice")
					}
				}
				// The failed send did not start a resend interval: a retry can go at once.
				snd.set(nil)
				if _, err := svc.Request(ctx, testPhone, testIP, true); err != nil {
					t.Fatalf("retry after a failed send: %v", err)
				}
				if ok, err := svc.Redeem(ctx, testPhone, snd.last(t)); !ok || err != nil {
					t.Fatalf("retried code: %v %v", ok, err)
				}
			})
		}
	}
}

// TestSendInFlightHoldsResendInterval: while a send is with the gateway, a concurrent request for
// the same phone is refused by the resend interval (so two codes are never sent at once), and the
// send failing still leaves the earlier code redeemable.
func TestSendInFlightHoldsResendInterval(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t, storage.Options{})
			svc, snd, clk := newService(t, st)
			ctx := context.Background()
			if _, err := svc.Request(ctx, testPhone, testIP, true); err != nil {
				t.Fatal(err)
			}
			first := snd.last(t)
			clk.Add(opts.ResendInterval + time.Second)

			snd.mu.Lock()
			snd.fail, snd.hold, snd.began = errors.New("timeout"), make(chan struct{}), make(chan struct{})
			hold, began := snd.hold, snd.began
			snd.mu.Unlock()
			done := make(chan error, 1)
			go func() {
				_, err := svc.Request(ctx, testPhone, testIP, true)
				done <- err
			}()
			<-began
			snd.mu.Lock()
			snd.hold, snd.began = nil, nil
			snd.mu.Unlock()
			var le *smscode.LimitError
			if _, err := svc.Request(ctx, testPhone, testIP, true); !errors.As(err, &le) || le.Limit != "resend_interval" {
				t.Fatalf("concurrent request during a send: %v", err)
			}
			if ok, _ := svc.Redeem(ctx, testPhone, first); ok {
				t.Fatal("the earlier code redeemed while a newer one was being sent")
			}
			close(hold)
			if err := <-done; !errors.Is(err, smscode.ErrSendFailed) {
				t.Fatalf("held send: %v", err)
			}
			// The wrong try made while the newer code was in flight still counts.
			if r := row(t, st, testPhone); r == nil || r.Attempts != 1 {
				t.Fatalf("restored row: %+v", r)
			}
			if ok, err := svc.Redeem(ctx, testPhone, first); !ok || err != nil {
				t.Fatalf("the earlier code after the failed send: %v %v", ok, err)
			}
		})
	}
}

// slowSender takes d to accept a message, like a real gateway across the network.
type slowSender struct{ d time.Duration }

func (s slowSender) Send(context.Context, string, string, time.Duration) error {
	time.Sleep(s.d)
	return nil
}

// TestNoAccountRequestTakesAsLongAsASend: the answer for a phone with no account (stored, never
// sent) comes no sooner than a real send takes, so timing does not reveal which phones have
// accounts. Only the lower bound is asserted: a timer never fires early.
func TestNoAccountRequestTakesAsLongAsASend(t *testing.T) {
	const gateway = 40 * time.Millisecond
	st := storagetest.OpenSQLite(t, storage.Options{})
	clk := testclock.New(time.Date(2030, 5, 1, 2, 0, 0, 0, time.UTC))
	svc := smscode.New(st, slowSender{gateway}, []byte("test-key-test-key-test-key-32byt"), opts, clk.Now, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	if _, err := svc.Request(ctx, testPhone, testIP, true); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := svc.Request(ctx, "+8613900139000", testIP, false); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < gateway {
		t.Fatalf("no-account request answered in %s, a send takes %s", took, gateway)
	}
}
