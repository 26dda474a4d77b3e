package server_test

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
	"github.com/lingpai/lingpai/internal/testutil/testclock"
	"github.com/lingpai/lingpai/internal/upstream/smsgw"
	"github.com/lingpai/lingpai/internal/upstream/smsgw/smsgwtest"
	"github.com/lingpai/lingpai/server"
)

type smsRig struct {
	*lingpaitest.Server
	hook   *smsgwtest.Webhook
	clock  *testclock.Clock
	secret string
	userID string
}

// startSMS runs lingpai with grant_type=sms through a webhook gateway and a movable clock.
func startSMS(t *testing.T, backend string, tune func(*config.SMS)) *smsRig {
	t.Helper()
	hook := smsgwtest.NewWebhook(t, "hook-secret")
	// The clock starts just after the next day boundary of the daily limits (midnight UTC+8, also an
	// hour boundary), so a test's few fake seconds never straddle an hourly or daily reset. It runs
	// ahead of the wall clock, never behind, so nothing it stores looks expired to the janitor.
	const china = 8 * 3600
	day := (time.Now().Unix() + china) / 86400
	clock := testclock.New(time.Unix((day+1)*86400-china+1, 0).UTC())
	s := lingpaitest.Start(t, backend, func(c *config.Config) {
		c.Grants.Enabled = append(c.Grants.Enabled, "sms")
		c.SMS = &config.SMS{Config: smsgw.Config{Provider: "webhook", Webhook: smsgw.Webhook{URL: hook.URL, Secret: "hook-secret"}}}
		c.SMS.Config.SetDefaults()
		smsDefaults(c.SMS)
		if tune != nil {
			tune(c.SMS)
		}
	}, server.WithClock(clock.Now))
	secret := s.Client("app", []string{"sms", "refresh_token"}, []string{"openid", "phone", "offline_access"})
	u, err := s.App.Accounts.CreateUser(context.Background(), accounts.NewUser{Username: "lily", Password: "lily-password", Phone: "+8613800138000"})
	if err != nil {
		t.Fatal(err)
	}
	return &smsRig{Server: s, hook: hook, clock: clock, secret: secret, userID: u.ID}
}

// smsDefaults mirrors what config.Load does for a present sms section.
func smsDefaults(s *config.SMS) {
	s.DefaultRegion, s.CodeLength, s.TTL, s.MaxAttempts, s.ResendInterval = "CN", 6, 5*time.Minute, 5, time.Minute
	s.HourlyLimit, s.DailyLimit, s.IPHourlyLimit, s.DailyBudget = 5, 10, 20, 1000
}

func (r *smsRig) ask(phone string) *lingpaitest.Response {
	return r.Post("/connect/sms/code", url.Values{"phone": {phone}}, "app", r.secret)
}

func (r *smsRig) redeem(phone, code string) *lingpaitest.Response {
	return r.Token("app", r.secret, url.Values{"grant_type": {"sms"}, "phone": {phone}, "sms": {code}})
}

func TestSMSSignIn(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		r := startSMS(t, backend, nil)
		ask := r.ask("138 0013 8000")
		if ask.Status != 200 || ask.Body["expires_in"] != float64(300) || ask.Body["resend_after"] != float64(60) || ask.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("code endpoint: %d %s %v", ask.Status, ask.Raw, ask.Header)
		}
		code := r.hook.Last("+8613800138000")
		if len(code) != 6 {
			t.Fatalf("gateway got %q", code)
		}
		tok := r.redeem("+86 138 0013 8000", code)
		if tok.Status != 200 || tok.Str("refresh_token") == "" {
			t.Fatalf("token: %d %s", tok.Status, tok.Raw)
		}
		id := jwtPart(t, tok.Str("id_token"), 1)
		if id["sub"] != r.userID || id["phone_number_verified"] != true {
			t.Fatalf("id_token %v", id)
		}
		if amr, _ := id["amr"].([]any); len(amr) != 1 || amr[0] != "sms" {
			t.Fatalf("amr %v", id["amr"])
		}
		if again := r.redeem("+8613800138000", code); again.Status != 400 || again.Str("error") != "invalid_grant" {
			t.Fatalf("reused code: %d %s", again.Status, again.Raw)
		}
		ref := r.Token("app", r.secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.Str("refresh_token")}})
		if ref.Status != 200 {
			t.Fatalf("refresh: %s", ref.Raw)
		}
		if r.Logs.Mentions(code) {
			t.Fatal("the code reached the log")
		}
	})
}

func TestSMSNormalisationAndErrors(t *testing.T) {
	r := startSMS(t, "sqlite", func(s *config.SMS) { s.ResendInterval = time.Second })
	forms := []string{"13800138000", "+86 138 0013 8000", "008613800138000", "+86-138-0013-8000"}
	for i, askAs := range forms {
		redeemAs := forms[(i+1)%len(forms)]
		r.clock.Add(2 * time.Second)
		if a := r.ask(askAs); a.Status != 200 {
			t.Fatalf("ask as %q: %s", askAs, a.Raw)
		}
		tok := r.redeem(redeemAs, r.hook.Last("+8613800138000"))
		if tok.Status != 200 || jwtPart(t, tok.Str("access_token"), 1)["sub"] != r.userID {
			t.Fatalf("asked as %q, redeemed as %q: %s", askAs, redeemAs, tok.Raw)
		}
	}
	for _, bad := range []string{"12345", "not-a-phone", "+999 1234"} {
		if a := r.ask(bad); a.Status != 400 || a.Str("error") != "invalid_request" {
			t.Fatalf("ask %q: %d %s", bad, a.Status, a.Raw)
		}
		if tok := r.redeem(bad, "123456"); tok.Status != 400 || tok.Str("error") != "invalid_request" {
			t.Fatalf("redeem %q: %d %s", bad, tok.Status, tok.Raw)
		}
	}
	if tok := r.Token("app", r.secret, url.Values{"grant_type": {"sms"}, "phone": {"13800138000"}}); tok.Str("error") != "invalid_request" {
		t.Fatalf("missing code: %s", tok.Raw)
	}
	other := r.Client("other", []string{"password"}, []string{"openid"})
	if a := r.Post("/connect/sms/code", url.Values{"phone": {"13800138000"}}, "other", other); a.Status != 400 || a.Str("error") != "unauthorized_client" {
		t.Fatalf("client without sms: %d %s", a.Status, a.Raw)
	}
	if a := r.Post("/connect/sms/code", url.Values{"phone": {"13800138000"}}, "app", "wrong"); a.Status != 401 || a.Str("error") != "invalid_client" {
		t.Fatalf("wrong secret: %d %s", a.Status, a.Raw)
	}
}

func TestSMSCodeLifecycle(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		// A short gateway timeout so the timeout case costs a fraction of a second, not 5 s; room
		// in the hourly limit for every case's sends (the limits have their own test).
		r := startSMS(t, backend, func(s *config.SMS) { s.Webhook.Timeout = 2 * time.Second; s.HourlyLimit = 10 })
		smsLifecycle(t, r)
	})
}

func smsLifecycle(t *testing.T, r *smsRig) {
	phone := "+8613800138000"
	t.Run("five wrong tries kill the code", func(t *testing.T) {
		r.ask(phone)
		code := r.hook.Last(phone)
		var first string
		for i := 0; i < 5; i++ {
			bad := r.redeem(phone, "000000")
			if i == 0 {
				first = bad.Raw
			} else if bad.Raw != first {
				t.Fatalf("wrong-code answers differ: %s vs %s", bad.Raw, first)
			}
		}
		if tok := r.redeem(phone, code); tok.Status != 400 || tok.Raw != first {
			t.Fatalf("right code after 5 wrong ones: %d %s", tok.Status, tok.Raw)
		}
	})
	t.Run("expired code", func(t *testing.T) {
		r.clock.Add(2 * time.Minute)
		r.ask(phone)
		code := r.hook.Last(phone)
		r.clock.Add(5*time.Minute + time.Second)
		if tok := r.redeem(phone, code); tok.Str("error") != "invalid_grant" {
			t.Fatalf("expired code: %s", tok.Raw)
		}
	})
	t.Run("resend too early is 429 with Retry-After", func(t *testing.T) {
		r.clock.Add(2 * time.Minute)
		if a := r.ask(phone); a.Status != 200 {
			t.Fatal(a.Raw)
		}
		r.clock.Add(10 * time.Second)
		a := r.ask(phone)
		if a.Status != 429 || a.Str("error") != "slow_down" || a.Header.Get("Retry-After") != "50" {
			t.Fatalf("early resend: %d %s Retry-After=%q", a.Status, a.Raw, a.Header.Get("Retry-After"))
		}
		r.clock.Add(51 * time.Second)
		if a := r.ask(phone); a.Status != 200 {
			t.Fatalf("resend after the interval: %s", a.Raw)
		}
	})
	t.Run("a failed send counts for nothing and gives 503", func(t *testing.T) {
		r.clock.Add(2 * time.Minute)
		before := len(r.hook.Messages())
		r.hook.FailNext("500")
		if a := r.ask(phone); a.Status != 503 || a.Str("error") != "temporarily_unavailable" {
			t.Fatalf("gateway down: %d %s", a.Status, a.Raw)
		}
		if a := r.ask(phone); a.Status != 200 || len(r.hook.Messages()) != before+1 {
			t.Fatalf("retry right after a failed send: %d %s", a.Status, a.Raw)
		}
	})
	t.Run("a gateway timeout counts for nothing and gives 503", func(t *testing.T) {
		r.clock.Add(2 * time.Minute)
		before := len(r.hook.Messages())
		r.hook.Hang(time.Minute) // past the timeout; ends when lingpai gives up
		a := r.ask(phone)
		r.hook.Hang(0)
		if a.Status != 503 || a.Str("error") != "temporarily_unavailable" {
			t.Fatalf("gateway timeout: %d %s", a.Status, a.Raw)
		}
		if a := r.ask(phone); a.Status != 200 || len(r.hook.Messages()) != before+1 {
			t.Fatalf("retry right after a timed-out send: %d %s", a.Status, a.Raw)
		}
		if tok := r.redeem(phone, r.hook.Last(phone)); tok.Status != 200 {
			t.Fatalf("code sent after a timeout: %s", tok.Raw)
		}
	})
	t.Run("a webhook's 429 is a failed send like any non-2xx: 503, counts for nothing", func(t *testing.T) {
		r.clock.Add(2 * time.Minute)
		before := len(r.hook.Messages())
		r.hook.FailNext("429")
		if a := r.ask(phone); a.Status != 503 || a.Str("error") != "temporarily_unavailable" {
			t.Fatalf("webhook 429: %d %s", a.Status, a.Raw)
		}
		if a := r.ask(phone); a.Status != 200 || len(r.hook.Messages()) != before+1 {
			t.Fatalf("retry right after a refused send: %d %s", a.Status, a.Raw)
		}
	})
	t.Run("no code ever reaches the log", func(t *testing.T) {
		for _, m := range r.hook.Messages() {
			if r.Logs.Mentions(m.Code) {
				t.Fatalf("code %s of %s reached the log", m.Code, m.Phone)
			}
		}
	})
}

func TestSMSSendingLimits(t *testing.T) {
	tests := []struct {
		name  string
		tune  func(*config.SMS)
		phone func(i int) string
		limit string
	}{
		{"hourly per phone", func(s *config.SMS) { s.HourlyLimit = 2 }, func(int) string { return "+8613800138000" }, "hourly"},
		{"daily per phone", func(s *config.SMS) { s.DailyLimit = 2 }, func(int) string { return "+8613800138000" }, "daily"},
		{"per IP", func(s *config.SMS) { s.IPHourlyLimit = 2; s.AutoRegister = true }, func(i int) string { return []string{"+8613900000001", "+8613900000002", "+8613900000003"}[i] }, "ip"},
		{"global budget", func(s *config.SMS) { s.DailyBudget = 2; s.AutoRegister = true }, func(i int) string { return []string{"+8613900000001", "+8613900000002", "+8613900000003"}[i] }, "budget"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startSMS(t, "sqlite", func(s *config.SMS) { s.ResendInterval = time.Second; tt.tune(s) })
			// Start just after a day boundary (China time) so an hour and a day are comparable.
			for i := 0; i < 2; i++ {
				r.clock.Add(2 * time.Second)
				if a := r.ask(tt.phone(i)); a.Status != 200 {
					t.Fatalf("send %d: %s", i, a.Raw)
				}
			}
			r.clock.Add(2 * time.Second)
			sent := len(r.hook.Messages())
			a := r.ask(tt.phone(2))
			if a.Status != 429 || a.Str("error") != "slow_down" || a.Header.Get("Retry-After") == "" {
				t.Fatalf("over the %s limit: %d %s", tt.limit, a.Status, a.Raw)
			}
			if len(r.hook.Messages()) != sent {
				t.Fatal("a message was sent over the limit")
			}
		})
	}
}

func TestSMSAutoRegister(t *testing.T) {
	t.Run("off: same answer, nothing sent, invalid_grant", func(t *testing.T) {
		r := startSMS(t, "sqlite", nil)
		known, unknown := r.ask("+8613800138000"), r.ask("+8613700000000")
		if unknown.Status != 200 || unknown.Raw != known.Raw {
			t.Fatalf("unknown phone answered differently: %s vs %s", unknown.Raw, known.Raw)
		}
		if r.hook.Last("+8613700000000") != "" {
			t.Fatal("a code was sent to a phone without an account")
		}
		if tok := r.redeem("+8613700000000", "123456"); tok.Str("error") != "invalid_grant" {
			t.Fatalf("unknown phone: %s", tok.Raw)
		}
	})
	t.Run("on: a new account with a stable sub", func(t *testing.T) {
		r := startSMS(t, "sqlite", func(s *config.SMS) { s.AutoRegister = true; s.ResendInterval = time.Second })
		var subs []any
		for i := 0; i < 2; i++ {
			r.clock.Add(2 * time.Second)
			r.ask("+8613700000000")
			tok := r.redeem("+8613700000000", r.hook.Last("+8613700000000"))
			if tok.Status != 200 {
				t.Fatalf("auto-register sign-in: %s", tok.Raw)
			}
			subs = append(subs, jwtPart(t, tok.Str("access_token"), 1)["sub"])
		}
		if subs[0] != subs[1] || subs[0] == r.userID {
			t.Fatalf("subs %v", subs)
		}
	})
}

func TestSMSConcurrentRedemption(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		r := startSMS(t, backend, nil)
		r.ask("+8613800138000")
		code := r.hook.Last("+8613800138000")
		const n = 20
		var wg sync.WaitGroup
		statuses := make(chan int, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses <- r.redeem("+8613800138000", code).Status
			}()
		}
		wg.Wait()
		close(statuses)
		ok := 0
		for s := range statuses {
			if s == 200 {
				ok++
			}
		}
		if ok != 1 {
			t.Fatalf("%d of %d concurrent redemptions got a token, want exactly 1", ok, n)
		}
	})
}

func TestSMSAcrossReplicas(t *testing.T) {
	a := startSMS(t, "mysql", nil)
	b := &smsRig{Server: a.Replica(), hook: a.hook, clock: a.clock, secret: a.secret, userID: a.userID}
	if r := a.ask("+8613800138000"); r.Status != 200 {
		t.Fatal(r.Raw)
	}
	if r := b.ask("+8613800138000"); r.Status != 429 {
		t.Fatalf("resend limit not shared across replicas: %d %s", r.Status, r.Raw)
	}
	tok := b.redeem("+8613800138000", a.hook.Last("+8613800138000"))
	if tok.Status != 200 {
		t.Fatalf("code asked at A, redeemed at B: %s", tok.Raw)
	}
	if again := a.redeem("+8613800138000", a.hook.Last("+8613800138000")); again.Status != 400 {
		t.Fatal("code redeemed at B still works at A")
	}
}

// TestSMSLimitsAcrossReplicas: the hourly, IP and budget counters live in the database, so two
// processes together send no more than one would.
func TestSMSLimitsAcrossReplicas(t *testing.T) {
	tests := []struct {
		name  string
		tune  func(*config.SMS)
		phone func(i int) string
	}{
		{"hourly per phone", func(s *config.SMS) { s.HourlyLimit = 2 }, func(int) string { return "+8613800138000" }},
		{"per IP", func(s *config.SMS) { s.IPHourlyLimit = 2; s.AutoRegister = true }, func(i int) string { return fmt.Sprintf("+861390000000%d", i) }},
		{"global budget", func(s *config.SMS) { s.DailyBudget = 2; s.AutoRegister = true }, func(i int) string { return fmt.Sprintf("+861390000000%d", i) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := startSMS(t, "mysql", func(s *config.SMS) { s.ResendInterval = time.Second; tt.tune(s) })
			b := &smsRig{Server: a.Replica(), hook: a.hook, clock: a.clock, secret: a.secret, userID: a.userID}
			for i, at := range []*smsRig{a, b} {
				a.clock.Add(2 * time.Second)
				if r := at.ask(tt.phone(i)); r.Status != 200 {
					t.Fatalf("send %d: %s", i, r.Raw)
				}
			}
			a.clock.Add(2 * time.Second)
			for name, at := range map[string]*smsRig{"A": a, "B": b} {
				if r := at.ask(tt.phone(2)); r.Status != 429 || r.Str("error") != "slow_down" {
					t.Fatalf("third send at %s: %d %s", name, r.Status, r.Raw)
				}
			}
		})
	}
}
