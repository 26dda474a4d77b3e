package conformance

// The suite's tests of the state the SMS, throttling and browser endpoints keep.

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/storage"
)

func testSMSCodes(t *testing.T, s *storage.Store) {
	now := time.Now().UTC().Truncate(time.Second)
	phone := "+8613800138000"
	put := func(hash string, at time.Time) error {
		_, err := s.ReplaceSMSCode(ctx, &storage.SMSCode{Phone: phone, CodeHash: []byte(hash), SentAt: at, ExpiresAt: at.Add(5 * time.Minute)}, at.Add(-time.Minute))
		return err
	}
	must(t, put("h1", now))
	if err := put("h2", now.Add(30*time.Second)); !errors.Is(err, storage.ErrTooEarly) {
		t.Fatalf("resend within the interval: %v", err)
	}
	must(t, put("h2", now.Add(61*time.Second))) // replaces h1
	later := now.Add(62 * time.Second)
	if ok, _ := s.RedeemSMSCode(ctx, phone, []byte("h1"), 5, later); ok {
		t.Fatal("the replaced code still works")
	}
	for i := 0; i < 3; i++ {
		if ok, err := s.RedeemSMSCode(ctx, phone, []byte("bad"), 5, later); ok || err != nil {
			t.Fatalf("wrong code: %v %v", ok, err)
		}
	}
	// 1 (h1) + 3 wrong = 4 tries; the 5th wrong try kills the code, after which the right one fails.
	if ok, _ := s.RedeemSMSCode(ctx, phone, []byte("bad"), 5, later); ok {
		t.Fatal("wrong code accepted")
	}
	if ok, _ := s.RedeemSMSCode(ctx, phone, []byte("h2"), 5, later); ok {
		t.Fatal("code still usable after max attempts")
	}
	must(t, put("h3", now.Add(3*time.Minute)))
	if ok, _ := s.RedeemSMSCode(ctx, phone, []byte("h3"), 5, now.Add(9*time.Minute)); ok {
		t.Fatal("expired code accepted")
	}
	must(t, put("h4", now.Add(10*time.Minute)))
	if ok, err := s.RedeemSMSCode(ctx, phone, []byte("h4"), 5, now.Add(11*time.Minute)); !ok || err != nil {
		t.Fatalf("right code refused: %v", err)
	}
	if ok, _ := s.RedeemSMSCode(ctx, phone, []byte("h4"), 5, now.Add(11*time.Minute)); ok {
		t.Fatal("code used twice")
	}
	if ok, _ := s.RedeemSMSCode(ctx, "+8613900000000", []byte("h4"), 5, now); ok {
		t.Fatal("code for a phone with none")
	}
	must(t, put("h5", now.Add(20*time.Minute)))
	must(t, s.RestoreSMSCode(ctx, phone, []byte("h5"), nil)) // a failed first send: the row goes
	if ok, _ := s.RedeemSMSCode(ctx, phone, []byte("h5"), 5, now.Add(20*time.Minute)); ok {
		t.Fatal("deleted code accepted")
	}
}

func testSMSConcurrent(t *testing.T, s *storage.Store) {
	now := time.Now().UTC()
	phone := "+8613700000000"
	if _, err := s.ReplaceSMSCode(ctx, &storage.SMSCode{Phone: phone, CodeHash: []byte("h"), SentAt: now, ExpiresAt: now.Add(time.Minute)}, now); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.RedeemSMSCode(ctx, phone, []byte("h"), 5, now.Add(time.Second))
			if err != nil && !storage.IsRetryable(err) {
				t.Errorf("redeem: %v", err)
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d of %d concurrent redemptions won, want exactly 1", wins, n)
	}
}

func testCounters(t *testing.T, s *storage.Store) {
	exp := time.Now().Add(time.Hour)
	for want := 1; want <= 3; want++ {
		n, err := s.AddCount(ctx, "sms-ip:1.2.3.4", 7, 1, exp)
		must(t, err)
		if n != want {
			t.Fatalf("count %d, want %d", n, want)
		}
	}
	if n, _ := s.AddCount(ctx, "sms-ip:1.2.3.4", 7, -1, exp); n != 2 {
		t.Fatalf("after release %d, want 2", n)
	}
	if n, _ := s.AddCount(ctx, "sms-ip:1.2.3.4", 8, 1, exp); n != 1 {
		t.Fatalf("new bucket %d, want 1", n)
	}
}

func testWeb(t *testing.T, s *storage.Store) {
	now := time.Now().UTC()
	must(t, s.CreateLoginSession(ctx, "cookie-1", &storage.LoginSession{SID: "sid-1", UserID: "u1", AuthTime: now, AMR: "pwd", ExpiresAt: now.Add(time.Hour)}))
	ls, err := s.LoginSessionByCookie(ctx, "cookie-1", now)
	if err != nil || ls.UserID != "u1" || ls.SID != "sid-1" {
		t.Fatalf("session: %+v %v", ls, err)
	}
	if ls.ID == "cookie-1" {
		t.Fatal("the cookie value is stored in clear")
	}
	if _, err := s.LoginSessionByCookie(ctx, "cookie-1", now.Add(2*time.Hour)); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("expired session: %v", err)
	}
	if _, err := s.LoginSessionByCookie(ctx, "other", now); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("unknown cookie: %v", err)
	}
	must(t, s.DeleteLoginSessionsBySID(ctx, "sid-1"))
	if _, err := s.LoginSessionByCookie(ctx, "cookie-1", now); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("ended session: %v", err)
	}
	if got, err := s.ConsentOf(ctx, "u1", "app"); err != nil || len(got) != 0 {
		t.Fatalf("no consent yet: %v %v", got, err)
	}
	must(t, s.SaveConsent(ctx, "u1", "app", []string{"openid"}))
	must(t, s.SaveConsent(ctx, "u1", "app", []string{"openid", "profile"}))
	if got, _ := s.ConsentOf(ctx, "u1", "app"); len(got) != 2 {
		t.Fatalf("consent: %v", got)
	}
	// An imported consent with an expiry counts until then, and a consent given again lasts.
	past, future := time.Now().UTC().Add(-time.Minute), time.Now().UTC().Add(time.Hour)
	must(t, s.DB(ctx).Create(&storage.Consent{UserID: "u2", ClientID: "app", Scopes: []string{"openid"}, UpdatedAt: past, ExpiresAt: &future}).Error)
	must(t, s.DB(ctx).Create(&storage.Consent{UserID: "u3", ClientID: "app", Scopes: []string{"openid"}, UpdatedAt: past, ExpiresAt: &past}).Error)
	if got, _ := s.ConsentOf(ctx, "u2", "app"); len(got) != 1 {
		t.Fatalf("live imported consent: %v", got)
	}
	if got, _ := s.ConsentOf(ctx, "u3", "app"); len(got) != 0 {
		t.Fatalf("expired consent: %v", got)
	}
	must(t, s.SaveConsent(ctx, "u3", "app", []string{"openid"}))
	if got, _ := s.ConsentOf(ctx, "u3", "app"); len(got) != 1 {
		t.Fatalf("consent given again after expiry: %v", got)
	}
}
