package opstest

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/testutil/galerarig"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
	"github.com/lingpai/lingpai/internal/testutil/testclock"
	"github.com/lingpai/lingpai/internal/upstream/smsgw"
	"github.com/lingpai/lingpai/internal/upstream/smsgw/smsgwtest"
	"github.com/lingpai/lingpai/server"
)

// The limits of the SMS pair: small, so that a parallel burst crosses each of them.
const (
	smsHourly, smsDaily, smsIPHourly, smsBudget = 3, 5, 4, 6
	maxFailures                                 = 5
	lilyPhone                                   = "+8613800138000"
)

// smsPair is two replicas on two Galera nodes with grant_type=sms, a fake gateway and one movable
// clock for both, so that limits and lockouts are tested at known times rather than by sleeping.
type smsPair struct {
	p      pair
	hook   *smsgwtest.Webhook
	clock  *testclock.Clock
	secret string
}

func startSMSPair(t *testing.T, c *galerarig.Cluster, db string) *smsPair {
	t.Helper()
	hook := smsgwtest.NewWebhook(t, "hook-secret")
	// Just after a day boundary of the daily limits (midnight UTC+8, also an hour boundary), ahead
	// of the wall clock: a case moves it a day on and never straddles a reset.
	const china = 8 * 3600
	day := (time.Now().Unix() + china) / 86400
	clock := testclock.New(time.Unix((day+1)*86400-china+1, 0).UTC())
	on := func(nd *galerarig.Node) func(*config.Config) {
		return func(cfg *config.Config) {
			cfg.Database.DSN = nd.DSN(db)
			cfg.Server.Issuer = "http://lingpai-sms.test"
			cfg.Server.TrustedProxies = []string{"127.0.0.1/32"} // X-Forwarded-For names the client IP
			cfg.Janitor.Interval = 0                             // the clock runs ahead: nothing may look expired to a sweep
			cfg.Throttle = config.Throttle{MaxFailures: maxFailures, IPMaxFailures: 1000, Window: time.Minute, Lockout: time.Minute}
			cfg.Grants.Enabled = append(cfg.Grants.Enabled, "sms")
			cfg.SMS = &config.SMS{Config: smsgw.Config{Provider: "webhook", Webhook: smsgw.Webhook{URL: hook.URL, Secret: "hook-secret"}},
				DefaultRegion: "CN", CodeLength: 6, TTL: 5 * time.Minute, MaxAttempts: 5,
				HourlyLimit: smsHourly, DailyLimit: smsDaily, IPHourlyLimit: smsIPHourly, DailyBudget: smsBudget}
			cfg.SMS.Config.SetDefaults()
		}
	}
	r := &smsPair{hook: hook, clock: clock}
	r.p[0] = lingpaitest.Start(t, "mysql", on(c.Nodes[0]), server.WithClock(clock.Now))
	r.p[1] = lingpaitest.Start(t, "mysql", on(c.Nodes[1]), server.WithClock(clock.Now))
	r.secret = r.p[0].Client("smsapp", []string{"sms", "password", "refresh_token"}, []string{"openid", "phone", "offline_access"})
	if _, err := r.p[0].App.Accounts.CreateUser(t.Context(), accounts.NewUser{Username: "lily", Password: "lily-password-1", Phone: lilyPhone}); err != nil {
		t.Fatal(err)
	}
	return r
}

// post sends form to path at replica i with Basic client authentication, from client IP ip.
func (r *smsPair) post(i int, path, ip string, form url.Values) *lingpaitest.Response {
	req, _ := http.NewRequest(http.MethodPost, r.p[i].URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("smsapp", r.secret)
	if ip != "" {
		req.Header.Set("X-Forwarded-For", ip)
	}
	return r.p[i].Do(req)
}

func (r *smsPair) ask(i int, phone, ip string) *lingpaitest.Response {
	return r.post(i, "/connect/sms/code", ip, url.Values{"phone": {phone}})
}

// burst sends n requests at once, alternating replicas, and counts the answers by status.
func (r *smsPair) burst(n int, send func(i int) *lingpaitest.Response) map[int]int {
	statuses := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp := send(i)
			mu.Lock()
			statuses[resp.Status]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return statuses
}

// testSMSLimits: parallel code requests spread over both replicas: exactly the limit succeeds,
// the rest are refused with 429, for each of the send limits.
func testSMSLimits(t *testing.T, r *smsPair) {
	const sends = 10
	phone := func(n int) string { return fmt.Sprintf("+86139%08d", n) }
	ip := func(n int) string { return fmt.Sprintf("198.51.%d.%d", n/200, n%200+1) }
	tests := []struct {
		name    string
		phone   func(i int) string // of the i-th request
		ip      func(i int) string
		batches []int // successes wanted per burst; bursts are an hour apart
	}{
		{"hourly_limit: one phone, many IPs", func(int) string { return phone(1) }, func(i int) string { return ip(100 + i) }, []int{smsHourly}},
		{"daily_limit: one phone over two hours", func(int) string { return phone(2) }, func(i int) string { return ip(200 + i) }, []int{smsHourly, smsDaily - smsHourly}},
		{"ip_hourly_limit: one IP, many phones", func(i int) string { return phone(300 + i) }, func(int) string { return "203.0.113.9" }, []int{smsIPHourly}},
		{"daily_budget: many phones and IPs", func(i int) string { return phone(400 + i) }, func(i int) string { return ip(400 + i) }, []int{smsBudget}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.clock.Add(24 * time.Hour) // a fresh day (and hour) for every limit
			for b, want := range tt.batches {
				if b > 0 {
					r.clock.Add(time.Hour)
				}
				got := r.burst(sends, func(i int) *lingpaitest.Response { return r.ask(i%2, tt.phone(i), tt.ip(i)) })
				if got[200] != want || got[429] != sends-want {
					t.Fatalf("burst %d of %d requests over two replicas: %v by status; want %d × 200 and %d × 429", b+1, sends, got, want, sends-want)
				}
				t.Logf("burst %d: %d requests over two nodes: %d × 200, %d × 429", b+1, sends, got[200], got[429])
			}
		})
	}
}

// testLockout: maxFailures wrong passwords at once, spread over both replicas, lock the account
// at exactly maxFailures (each verified and counted once); the right password is then refused
// until the lock and the failures have aged out; maxFailures-1 wrong ones lock nothing.
func testLockout(t *testing.T, r *smsPair) {
	pw := func(user, password string) url.Values {
		return url.Values{"grant_type": {"password"}, "username": {user}, "password": {password}, "scope": {"openid"}}
	}
	count := func(user, reason string) int {
		n := 0
		for _, s := range r.p {
			for _, line := range strings.Split(s.Logs.String(), "\n") {
				if strings.Contains(line, `"event":"signin.failed"`) && strings.Contains(line, `"reason":"`+reason+`"`) &&
					strings.Contains(line, `"username":"`+user+`"`) {
					n++
				}
			}
		}
		return n
	}
	tests := []struct {
		user   string
		wrong  int
		locked bool
	}{
		{"carol", maxFailures, true},
		{"dave", maxFailures - 1, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d wrong passwords for %s", tt.wrong, tt.user), func(t *testing.T) {
			r.p[0].User(tt.user, tt.user+"-password-1")
			r.clock.Add(24 * time.Hour)
			ip := "192.0.2." + fmt.Sprint(len(tt.user)+tt.wrong)
			got := r.burst(tt.wrong, func(i int) *lingpaitest.Response {
				return r.post(i%2, "/connect/token", ip, pw(tt.user, "wrong"))
			})
			if got[400] != tt.wrong {
				t.Fatalf("%d wrong passwords at once over two replicas: %v by status; want %d × 400 invalid_grant", tt.wrong, got, tt.wrong)
			}
			if n := count(tt.user, "bad_password"); n != tt.wrong {
				t.Fatalf("%d wrong passwords verified; want each of the %d verified once", n, tt.wrong)
			}
			right := pw(tt.user, tt.user+"-password-1")
			for i := range 2 {
				a := r.post(i, "/connect/token", ip, right)
				switch {
				case tt.locked && (a.Status != 400 || a.Str("error") != "invalid_grant"):
					t.Fatalf("right password at replica %d after %d failures: %d %s; want the locked answer 400 invalid_grant", i+1, tt.wrong, a.Status, a.Raw)
				case !tt.locked && a.Status != 200:
					t.Fatalf("right password at replica %d after %d failures: %d %s; want 200 (below the limit)", i+1, tt.wrong, a.Status, a.Raw)
				}
			}
			if !tt.locked {
				return
			}
			if n := count(tt.user, "throttled"); n != 2 {
				t.Fatalf("right password refused as throttled %d times; want 2 (once per replica)", n)
			}
			r.clock.Add(59 * time.Second) // the lock (throttle.lockout 1m) still holds
			if a := r.post(1, "/connect/token", ip, right); a.Status != 400 {
				t.Fatalf("right password 59 s into the lockout: %d %s; want refused", a.Status, a.Raw)
			}
			r.clock.Add(2 * time.Minute) // lock over, failures out of the window
			if a := r.post(1, "/connect/token", ip, right); a.Status != 200 {
				t.Fatalf("right password after the lockout: %d %s; want 200", a.Status, a.Raw)
			}
			t.Logf("%d wrong passwords at once over two nodes: each verified once, the account locked; right password refused at both replicas until the lock ended, then 200", tt.wrong)
		})
	}
}
