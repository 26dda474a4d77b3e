package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
	"github.com/lingpai/lingpai/internal/testutil/testclock"
	"github.com/lingpai/lingpai/internal/upstream/smsgw"
	"github.com/lingpai/lingpai/internal/upstream/smsgw/smsgwtest"
	"github.com/lingpai/lingpai/internal/upstream/wechat"
	"github.com/lingpai/lingpai/internal/upstream/wechat/wechattest"
	"github.com/lingpai/lingpai/server"
	"github.com/lingpai/lingpai/storage"
)

// verifications counts the password checks that ran, from the audit log: every check ends in a
// signin.succeeded or a signin.failed with a reason other than "throttled" (refused before it ran).
func verifications(logs ...*lingpaitest.SyncBuffer) (failed, succeeded int) {
	for _, l := range logs {
		for _, line := range strings.Split(l.String(), "\n") {
			switch {
			case strings.Contains(line, `"event":"signin.succeeded"`):
				succeeded++
			case strings.Contains(line, `"event":"signin.failed"`) && !strings.Contains(line, `"reason":"throttled"`):
				failed++
			}
		}
	}
	return failed, succeeded
}

// TestParallelGuessesAreReservedFirst: 49 wrong passwords and the right one sent at once, split
// over two replicas on one database, run at most throttle.max_failures wrong verifications; once
// the limit is reached the right password is refused too. The same holds per client IP.
func TestParallelGuessesAreReservedFirst(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		const maxFailures = 5
		s := lingpaitest.Start(t, backend, func(c *config.Config) { c.Throttle.MaxFailures = maxFailures })
		r := s.Replica()
		secret := s.Client("app", []string{"password"}, []string{"api1"})
		s.User("paula", "paula-password")
		form := func(u, p string) url.Values {
			return url.Values{"grant_type": {"password"}, "username": {u}, "password": {p}}
		}
		var wg sync.WaitGroup
		statuses := make([]int, 50)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				srv, pw := s, fmt.Sprintf("wrong-%d", i)
				if i%2 == 1 {
					srv = r
				}
				if i == 25 {
					pw = "paula-password"
				}
				statuses[i] = srv.Token("app", secret, form("paula", pw)).Status
			}()
		}
		wg.Wait()
		failed, succeeded := verifications(s.Logs, r.Logs)
		t.Logf("%s: 50 parallel guesses ran %d failed and %d successful verifications (max_failures %d); right password answered %d",
			backend, failed, succeeded, maxFailures, statuses[25])
		if failed > maxFailures || succeeded > 1 {
			t.Fatalf("%d wrong passwords verified, want at most %d", failed, maxFailures)
		}
		// Once max_failures wrong passwords were verified the account is locked: the right
		// password is refused. (When the right one drew a slot before the limit was reached, fewer
		// wrong ones ran; then nothing locked, and nothing should have.)
		if failed == maxFailures {
			if got := s.Token("app", secret, form("paula", "paula-password")); got.Status != 400 || got.Str("error") != "invalid_grant" {
				t.Fatalf("right password after the limit: %d %s", got.Status, got.Raw)
			}
		} else if statuses[25] != 200 {
			t.Fatalf("only %d wrong passwords verified, yet the right one answered %d", failed, statuses[25])
		}
	})
}

// TestParallelGuessesPerIP: one client IP spraying many accounts at once gets at most
// throttle.ip_max_failures verifications.
func TestParallelGuessesPerIP(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		const ipMax = 10
		s := lingpaitest.Start(t, backend, func(c *config.Config) { c.Throttle.IPMaxFailures = ipMax })
		r := s.Replica()
		secret := s.Client("app", []string{"password"}, []string{"api1"})
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				srv := s
				if i%2 == 1 {
					srv = r
				}
				srv.Token("app", secret, url.Values{"grant_type": {"password"}, "username": {fmt.Sprintf("nobody%d", i)}, "password": {"x"}})
			}()
		}
		wg.Wait()
		failed, _ := verifications(s.Logs, r.Logs)
		t.Logf("%s: 40 parallel guesses from one IP ran %d verifications (ip_max_failures %d)", backend, failed, ipMax)
		if failed > ipMax {
			t.Fatalf("%d verifications from one IP, want at most %d", failed, ipMax)
		}
	})
}

// TestClaimsFollowScopes: every grant with a user puts a claim into the id_token and the access
// token only when a scope that OIDC Core 5.4 maps it to was granted.
func TestClaimsFollowScopes(t *testing.T) {
	hook := smsgwtest.NewWebhook(t, "hook-secret")
	wx := wechattest.New(t)
	wx.AddApp("wxweb", "web-secret", true)
	autoRegister := true
	clock := testclock.New(time.Now().UTC())
	s := lingpaitest.Start(t, "sqlite", func(c *config.Config) {
		c.Grants.Enabled = append(c.Grants.Enabled, "sms", "wechat")
		c.SMS = &config.SMS{Config: smsgw.Config{Provider: "webhook", Webhook: smsgw.Webhook{URL: hook.URL, Secret: "hook-secret"}}}
		c.SMS.Config.SetDefaults()
		smsDefaults(c.SMS)
		c.SMS.HourlyLimit, c.SMS.DailyLimit = 50, 50
		c.WeChat = &wechat.Config{APIBaseURL: wx.URL, Timeout: 2 * time.Second, AutoRegister: &autoRegister,
			Apps: []wechat.App{{ID: "site", AppID: "wxweb", Secret: "web-secret", Type: "oauth"}}}
	}, server.WithClock(clock.Now))
	all := []string{"password", "sms", "wechat"}
	secret := s.Client("every", all, []string{"openid", "profile", "email", "phone", "api1"})
	const phone = "+8613800138000"
	if _, err := s.App.Accounts.CreateUser(context.Background(), accounts.NewUser{Username: "lily", Password: "lily-password",
		Phone: phone, Name: "Lily", Email: "lily@example.com"}); err != nil {
		t.Fatal(err)
	}
	form := map[string]func(t *testing.T) url.Values{
		"password": func(*testing.T) url.Values { return url.Values{"username": {"lily"}, "password": {"lily-password"}} },
		"wechat":   func(*testing.T) url.Values { return url.Values{"code": {wx.IssueCode("wxweb", "o-lily", "u-lily")}} },
		"sms": func(t *testing.T) url.Values {
			if r := s.Post("/connect/sms/code", url.Values{"phone": {phone}}, "every", secret); r.Status != 200 {
				t.Fatalf("sms code: %d %s", r.Status, r.Raw)
			}
			clock.Add(2 * time.Minute)
			return url.Values{"phone": {phone}, "sms": {hook.Last(phone)}}
		},
	}
	byScope := map[string][]string{
		"profile": {"name", "preferred_username"},
		"email":   {"email", "email_verified"},
		"phone":   {"phone_number", "phone_number_verified"},
	}
	for _, gt := range all {
		for _, scope := range []string{"openid", "api1", "openid profile", "openid email", "openid phone", "openid profile email phone"} {
			t.Run(gt+"/"+scope, func(t *testing.T) {
				f := form[gt](t)
				f.Set("grant_type", gt)
				f.Set("scope", scope)
				r := s.Token("every", secret, f)
				if r.Status != 200 {
					t.Fatalf("%d %s", r.Status, r.Raw)
				}
				tokens := map[string]map[string]any{"access_token": jwtPart(t, r.Str("access_token"), 1)}
				if strings.Contains(scope, "openid") {
					tokens["id_token"] = jwtPart(t, r.Str("id_token"), 1)
				}
				granted := strings.Fields(scope)
				for sc, names := range byScope {
					for _, n := range names {
						for kind, claims := range tokens {
							_, has := claims[n]
							if has && !slices.Contains(granted, sc) {
								t.Errorf("%s carries %s without scope %s", kind, n, sc)
							}
							// The local user has all three; a WeChat user has no e-mail or phone.
							if !has && slices.Contains(granted, sc) && kind == "id_token" && gt != "wechat" && n != "name" {
								t.Errorf("%s lacks %s with scope %s", kind, n, sc)
							}
						}
					}
				}
			})
		}
	}
}

// TestDisabledUserTokensDie: disabling a user revokes their token families and login sessions, and
// introspection answers active:false for a disabled or deleted user's token; enabling the user
// again does not bring the old tokens back.
func TestDisabledUserTokensDie(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		s := lingpaitest.Start(t, backend, nil)
		secret := s.Client("app", []string{"password", "refresh_token"}, []string{"openid", "offline_access", "api1"})
		s.User("dora", "dora-password")
		tok := s.Token("app", secret, url.Values{"grant_type": {"password"}, "username": {"dora"}, "password": {"dora-password"}})
		if tok.Status != 200 {
			t.Fatalf("%d %s", tok.Status, tok.Raw)
		}
		// A login session of the same user (as the sign-in page makes).
		ctx := context.Background()
		u, err := s.Store.UserByUsername(ctx, "dora")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Store.CreateLoginSession(ctx, "dora-cookie", &storage.LoginSession{SID: "sid-dora", UserID: u.ID, AuthTime: time.Now().UTC(),
			AMR: "pwd", ExpiresAt: time.Now().Add(time.Hour).UTC()}); err != nil {
			t.Fatal(err)
		}
		// Disabled in the database directly (as an operator's tool might): introspection checks the user.
		if err := s.Store.DB(ctx).Model(&storage.User{}).Where("id = ?", u.ID).Update("disabled", true).Error; err != nil {
			t.Fatal(err)
		}
		if active(t, s, "app", secret, tok.Str("access_token")) {
			t.Error("access token of a disabled user introspects active")
		}
		if err := s.Store.DB(ctx).Model(&storage.User{}).Where("id = ?", u.ID).Update("disabled", false).Error; err != nil {
			t.Fatal(err)
		}
		if !active(t, s, "app", secret, tok.Str("access_token")) {
			t.Fatal("access token inactive for an active user")
		}
		// Disabled through accounts (lingpai user disable), then enabled again.
		if err := s.App.Accounts.SetDisabled(ctx, "dora", true); err != nil {
			t.Fatal(err)
		}
		if err := s.App.Accounts.SetDisabled(ctx, "dora", false); err != nil {
			t.Fatal(err)
		}
		if active(t, s, "app", secret, tok.Str("access_token")) {
			t.Error("access token survived disabling")
		}
		if r := s.Token("app", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.Str("refresh_token")}}); r.Status != 400 {
			t.Errorf("refresh token untried while disabled works after enable: %d %s", r.Status, r.Raw)
		}
		if _, err := s.Store.LoginSessionByCookie(ctx, "dora-cookie", time.Now()); err == nil {
			t.Fatal("login session survived disabling")
		}
	})
}

// TestLongInputs: an input over its documented limit is 400 invalid_request on every backend
// (never a 500 from a column too short), and a username at the limit is still throttled.
func TestLongInputs(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		s := lingpaitest.Start(t, backend, func(c *config.Config) { c.Throttle.MaxFailures = 2 })
		secret := s.Client("app", []string{"password"}, []string{"api1"})
		long := func(n int) string { return strings.Repeat("a", n) }
		cases := []struct {
			name string
			form url.Values
		}{
			{"username 183", url.Values{"grant_type": {"password"}, "username": {long(183)}, "password": {"x"}}},
			{"username 129", url.Values{"grant_type": {"password"}, "username": {long(129)}, "password": {"x"}}},
			{"password 1025", url.Values{"grant_type": {"password"}, "username": {"u"}, "password": {long(1025)}}},
			{"scope 2049", url.Values{"grant_type": {"password"}, "username": {"u"}, "password": {"x"}, "scope": {long(2049)}}},
			{"phone 33", url.Values{"grant_type": {"password"}, "username": {"u"}, "password": {"x"}, "phone": {long(33)}}},
			{"refresh_token 1025", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {long(1025)}}},
		}
		for _, tc := range cases {
			r := s.Token("app", secret, tc.form)
			if r.Status != 400 || r.Str("error") != "invalid_request" {
				t.Errorf("%s: %d %s, want 400 invalid_request", tc.name, r.Status, r.Raw)
			}
		}
		if r := s.Post("/connect/introspect", url.Values{"token": {long(8193)}}, "app", secret); r.Status != 400 || r.Str("error") != "invalid_request" {
			t.Errorf("introspect token 8193: %d %s", r.Status, r.Raw)
		}
		// At the limit: an ordinary failure, counted.
		atLimit := url.Values{"grant_type": {"password"}, "username": {long(128)}, "password": {"x"}}
		for range 2 {
			if r := s.Token("app", secret, atLimit); r.Status != 400 || r.Str("error") != "invalid_grant" {
				t.Fatalf("username 128: %d %s", r.Status, r.Raw)
			}
		}
		if !strings.Contains(s.Logs.String(), `"event":"account.throttled"`) {
			t.Error("failures of a 128-byte username were not counted")
		}
	})
}

// TestUserinfoRefusesTokenInQuery: an access token in the URL (RFC 6750 section 2.3) is refused
// (RFC 9700 section 4.3.2); the header and the form body still work.
func TestUserinfoRefusesTokenInQuery(t *testing.T) {
	s := lingpaitest.Start(t, "sqlite", nil)
	secret := s.Client("app", []string{"password"}, []string{"openid", "profile"})
	s.User("quinn", "quinn-password")
	tok := s.Token("app", secret, url.Values{"grant_type": {"password"}, "username": {"quinn"}, "password": {"quinn-password"}}).Str("access_token")
	header := mustReq(t, http.MethodGet, s.URL+"/connect/userinfo", "", "")
	header.Header.Set("Authorization", "Bearer "+tok)
	body := mustReq(t, http.MethodPost, s.URL+"/connect/userinfo", url.Values{"access_token": {tok}}.Encode(), "application/x-www-form-urlencoded")
	for name, req := range map[string]*http.Request{"header": header, "form body": body} {
		if r := s.Do(req); r.Status != 200 || r.Str("sub") == "" {
			t.Errorf("%s: %d %s", name, r.Status, r.Raw)
		}
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		r := s.Do(mustReq(t, method, s.URL+"/connect/userinfo?access_token="+url.QueryEscape(tok), "", "application/x-www-form-urlencoded"))
		if r.Status != 400 || r.Str("error") != "invalid_request" {
			t.Errorf("%s with the token in the query: %d %s, want 400 invalid_request", method, r.Status, r.Raw)
		}
	}
}

// TestAuditLogsTheAuthenticatedClient: a body client_id that contradicts the Basic credentials is
// invalid_request, and the log never names a client that did not authenticate.
func TestAuditLogsTheAuthenticatedClient(t *testing.T) {
	s := lingpaitest.Start(t, "sqlite", nil)
	secret := s.Client("clientA", []string{"password", "client_credentials"}, []string{"api1"})
	s.Client("clientB", []string{"password"}, []string{"api1"})
	s.User("rita", "rita-password")
	form := url.Values{"grant_type": {"password"}, "username": {"rita"}, "password": {"rita-password"}, "client_id": {"clientB"}}
	if r := s.Token("clientA", secret, form); r.Status != 400 || r.Str("error") != "invalid_request" {
		t.Errorf("contradicting client_id: %d %s, want 400 invalid_request", r.Status, r.Raw)
	}
	for _, path := range []string{"/connect/introspect", "/connect/revocation"} {
		if r := s.Post(path, url.Values{"token": {"x"}, "client_id": {"clientB"}}, "clientA", secret); r.Status != 400 || r.Str("error") != "invalid_request" {
			t.Errorf("%s with a contradicting client_id: %d %s", path, r.Status, r.Raw)
		}
	}
	// Wrong password with the same client_id as Basic: allowed, logged as clientA.
	form.Set("client_id", "clientA")
	form.Set("password", "wrong")
	if r := s.Token("clientA", secret, form); r.Status != 400 || r.Str("error") != "invalid_grant" {
		t.Errorf("wrong password: %d %s", r.Status, r.Raw)
	}
	// An unauthenticated client_id (wrong secret) is not written as the request's client.
	if r := s.Token("clientB", "not-the-secret", url.Values{"grant_type": {"client_credentials"}}); r.Status != 401 {
		t.Errorf("wrong secret: %d %s", r.Status, r.Raw)
	}
	logs := s.Logs.String()
	if strings.Contains(logs, `"client_id":"clientB"`) {
		t.Errorf("log blames clientB, which never authenticated:\n%s", logs)
	}
	if !strings.Contains(logs, `"event":"signin.failed"`) || !strings.Contains(logs, `"client_id":"clientA"`) {
		t.Errorf("the sign-in failure is not logged with clientA:\n%s", logs)
	}
}

// TestIntrospectionPolicy: a client introspects its own tokens and access tokens whose aud names
// it; a resource server registered with can_introspect introspects any access token; anything
// else, and any other client's refresh token, is {"active":false} (RFC 7662 section 2.2).
func TestIntrospectionPolicy(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		s := lingpaitest.Start(t, backend, nil)
		appSecret := s.Client("app", []string{"password", "refresh_token"}, []string{"offline_access", "api1"},
			func(c *storage.Client) { c.Audience = []string{"api-rs"} })
		otherSecret := s.Client("other", []string{"client_credentials"}, []string{"api1"})
		audSecret := s.Client("api-rs", []string{"client_credentials"}, []string{"api1"})
		rsSecret := s.Client("gateway", []string{"client_credentials"}, []string{"api1"}, func(c *storage.Client) { c.CanIntrospect = true })
		s.User("sam", "sam-password")
		tok := s.Token("app", appSecret, url.Values{"grant_type": {"password"}, "username": {"sam"}, "password": {"sam-password"}})
		at, rt := tok.Str("access_token"), tok.Str("refresh_token")
		cases := []struct {
			client, secret, token string
			want                  bool
		}{
			{"app", appSecret, at, true},
			{"app", appSecret, rt, true},
			{"api-rs", audSecret, at, true},   // aud names it
			{"api-rs", audSecret, rt, false},  // refresh tokens: own client only
			{"gateway", rsSecret, at, true},   // can_introspect
			{"gateway", rsSecret, rt, false},  // refresh tokens: own client only
			{"other", otherSecret, at, false}, // neither owner nor audience
			{"other", otherSecret, rt, false},
		}
		for _, tc := range cases {
			r := s.Post("/connect/introspect", url.Values{"token": {tc.token}}, tc.client, tc.secret)
			got, _ := r.Body["active"].(bool)
			if r.Status != 200 || got != tc.want {
				t.Errorf("%s introspecting %.12s…: %d %s, want active=%v", tc.client, tc.token, r.Status, r.Raw, tc.want)
			}
			if !tc.want && (r.Str("sub") != "" || r.Str("username") != "" || r.Str("scope") != "") {
				t.Errorf("%s learnt about another client's token: %s", tc.client, r.Raw)
			}
		}
	})
}

// TestNoEnumerationThroughSMSBudgetOrMetrics: every code request counts against sms.daily_budget
// whether or not the phone has an account, so an exhausted budget answers alike for both; and the
// public address never serves /metrics (server.admin_addr defaults to 127.0.0.1:9090).
func TestNoEnumerationThroughSMSBudgetOrMetrics(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		r := startSMS(t, backend, func(s *config.SMS) { s.DailyBudget = 2; s.ResendInterval = time.Second })
		for _, p := range []string{"+8613900000001", "+8613900000002"} { // no accounts
			r.clock.Add(2 * time.Second)
			if a := r.ask(p); a.Status != 200 {
				t.Fatalf("unknown phone %s: %d %s", p, a.Status, a.Raw)
			}
		}
		r.clock.Add(2 * time.Second)
		known := r.ask("+8613800138000")
		r.clock.Add(2 * time.Second)
		unknown := r.ask("+8613900000003")
		t.Logf("%s: budget 2 used by unknown phones; then registered phone %d, unknown phone %d", backend, known.Status, unknown.Status)
		if known.Status != 429 || unknown.Status != 429 || known.Str("error") != unknown.Str("error") {
			t.Errorf("budget exhausted: registered phone %d %s, unknown phone %d %s; want the same 429", known.Status, known.Raw, unknown.Status, unknown.Raw)
		}
		if r.Config.Server.AdminAddr != "127.0.0.1:9090" {
			t.Errorf("server.admin_addr default %q, want 127.0.0.1:9090", r.Config.Server.AdminAddr)
		}
		if status, _ := scrape(t, r.URL+"/metrics"); status != http.StatusNotFound {
			t.Errorf("public /metrics: %d, want 404", status)
		}
	})
}

// signedInFlow signs a browser in on the plain sign-in page.
func signedInFlow(t *testing.T, s *lingpaitest.Server, user, pass string) *flow {
	t.Helper()
	f := newFlow(t, s)
	_, page := f.get("/account/login")
	form := formFields(page)
	form.Set("username", user)
	form.Set("password", pass)
	if resp, body := f.post("/account/login", form); resp.StatusCode != 200 {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, body)
	}
	return f
}

func loginSessions(t *testing.T, s *lingpaitest.Server, userID string) int64 {
	t.Helper()
	var n int64
	if err := s.Store.DB(context.Background()).Model(&storage.LoginSession{}).Where("user_id = ?", userID).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// plant copies the CSRF cookie of one browser into another, as an attacker able to set cookies
// for the domain would.
func plant(t *testing.T, from, to *flow, base string) {
	t.Helper()
	u, _ := url.Parse(base)
	for _, c := range from.client.Jar.Cookies(u) {
		if strings.Contains(c.Name, "csrf") {
			to.client.Jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: "/"}})
		}
	}
}

// TestLogoutAndLoginCSRF: a GET of /connect/endsession without a valid id_token_hint asks for
// confirmation instead of signing out; the confirmation is a POST whose CSRF token is bound to the
// browser's session, so a cookie pair planted from another browser is refused (there and on the
// sign-in page); cross-origin form posts are refused before anything else.
func TestLogoutAndLoginCSRF(t *testing.T) {
	s := lingpaitest.Start(t, "sqlite", nil)
	s.Client("rp", []string{"authorization_code"}, []string{"openid"})
	alice := s.User("alice", "wonderland-2026")
	s.User("mallory", "mallory-password")
	victim := signedInFlow(t, s, "alice", "wonderland-2026")

	// Any site can make the browser GET this URL: it must not sign the user out by itself.
	resp, page := victim.get("/connect/endsession")
	if n := loginSessions(t, s, alice.ID); n != 1 || resp.StatusCode != 200 || !strings.Contains(page, `method="post"`) {
		t.Errorf("GET endsession without a hint: %d, sessions left %d, page has a form: %v", resp.StatusCode, n, strings.Contains(page, `method="post"`))
		victim = signedInFlow(t, s, "alice", "wonderland-2026")
	}

	// The attacker's own pair (cookie and token from their browser), planted in the victim's.
	attacker := signedInFlow(t, s, "mallory", "mallory-password")
	_, apage := attacker.get("/connect/endsession")
	plant(t, attacker, victim, s.URL)
	if resp, _ := victim.post("/connect/endsession", formFields(apage)); resp.StatusCode != http.StatusForbidden || loginSessions(t, s, alice.ID) != 1 {
		t.Errorf("planted pair on the logout confirmation: %d, sessions left %d", resp.StatusCode, loginSessions(t, s, alice.ID))
	}
	_, lpage := attacker.get("/account/login")
	plant(t, attacker, victim, s.URL)
	login := formFields(lpage)
	login.Set("username", "mallory")
	login.Set("password", "mallory-password")
	if resp, _ := victim.post("/account/login", login); resp.StatusCode != http.StatusForbidden {
		t.Errorf("planted pair on the sign-in page (login CSRF): %d, want 403", resp.StatusCode)
	}

	// A cross-origin form post is refused even with the browser's own valid pair.
	fresh := newFlow(t, s)
	_, fpage := fresh.get("/account/login")
	own := formFields(fpage)
	own.Set("username", "alice")
	own.Set("password", "wonderland-2026")
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/account/login", strings.NewReader(own.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := fresh.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST to the sign-in page: %d, want 403", resp.StatusCode)
	}

	// The victim's own confirmation signs out.
	victim = signedInFlow(t, s, "alice", "wonderland-2026")
	before := loginSessions(t, s, alice.ID)
	_, page = victim.get("/connect/endsession")
	confirm := formFields(page)
	if resp, _ := victim.post("/connect/endsession", confirm); resp.StatusCode != 200 || loginSessions(t, s, alice.ID) != before-1 {
		t.Errorf("confirmed logout: %d, sessions %d before, %d after", resp.StatusCode, before, loginSessions(t, s, alice.ID))
	}
}

// TestKeyMaterialEncryptedAtRest: with security.secrets set, the private signing keys and the
// system secrets (HMAC, CSRF, SMS) are stored AES-GCM encrypted; the server still signs and
// verifies after a restart.
func TestKeyMaterialEncryptedAtRest(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		s := lingpaitest.Start(t, backend, func(c *config.Config) {
			c.Security.Secrets = []string{"first-system-secret-0123456789abcdef"}
		})
		secret := s.Client("app", []string{"client_credentials"}, []string{"api1"})
		ctx := context.Background()
		var keys []storage.SigningKey
		if err := s.Store.DB(ctx).Find(&keys).Error; err != nil || len(keys) == 0 {
			t.Fatalf("signing keys: %v %v", keys, err)
		}
		for _, k := range keys {
			if strings.Contains(string(k.PrivateJWK), `"d"`) || strings.HasPrefix(string(k.PrivateJWK), "{") {
				t.Errorf("signing key %s stored in plaintext: %.40s…", k.KID, k.PrivateJWK)
			}
		}
		var secrets []storage.SystemSecret
		if err := s.Store.DB(ctx).Where("name NOT LIKE ?", "lease:%").Find(&secrets).Error; err != nil || len(secrets) == 0 {
			t.Fatalf("system secrets: %v %v", secrets, err)
		}
		for _, sec := range secrets {
			if len(sec.Value) <= 32 {
				t.Errorf("system secret %s stored as %d raw bytes: not encrypted", sec.Name, len(sec.Value))
			}
		}
		s.Restart()
		tok := s.Token("app", secret, url.Values{"grant_type": {"client_credentials"}})
		if tok.Status != 200 || !active(t, s, "app", secret, tok.Str("access_token")) {
			t.Fatalf("after restart: %d %s", tok.Status, tok.Raw)
		}
	})
}
