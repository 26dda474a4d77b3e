package opstest

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
	"github.com/lingpai/lingpai/internal/testutil/testrig"
	"github.com/lingpai/lingpai/internal/upstream/ldapdir"
	"github.com/lingpai/lingpai/internal/upstream/smsgw"
	"github.com/lingpai/lingpai/internal/upstream/smsgw/smsgwtest"
	"github.com/lingpai/lingpai/internal/upstream/wechat"
	"github.com/lingpai/lingpai/internal/upstream/wechat/wechattest"
	"github.com/lingpai/lingpai/storage"
)

// queryTimeout is database.query_timeout in the fault tests: short, so a frozen database costs
// the test seconds, and every answer must come within it (plus scheduling slack on a busy CI box).
const (
	queryTimeout = 2 * time.Second
	answerWithin = queryTimeout + time.Second
)

// tcpProxy forwards a loopback port to a database; cut drops every connection it carries and
// refuses new ones until heal, as a network partition or a dying load balancer would.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	cutOff bool
}

func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { _ = ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *tcpProxy) Addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cutOff {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.mu.Unlock()
		up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			_ = dst.Close()
			_ = src.Close()
		}
		go pipe(up, c)
		go pipe(c, up)
	}
}

// cut closes every connection and refuses new ones.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutOff = true
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

func (p *tcpProxy) heal() {
	p.mu.Lock()
	p.cutOff = false
	p.mu.Unlock()
}

// faultRig is a lingpai on a database the test can break, with what a user holds before the
// fault: tokens, a signed-in browser, an authorization code and an SMS code.
type faultRig struct {
	t      *testing.T
	s      *lingpaitest.Server
	hook   *smsgwtest.Webhook
	wx     *wechattest.Fake
	secret string
	issued int // token answers 200, to compare with the stored access tokens
	// readsWork: the fault leaves reads working (a SQLite write lock), so the routes that only
	// read may answer 200.
	readsWork bool
}

const (
	faultPhone    = "+8613800138000"
	faultRedirect = "http://127.0.0.1:9/cb"
)

func startFaultRig(t *testing.T, backend, dsn string) *faultRig {
	t.Helper()
	hook := smsgwtest.NewWebhook(t, "hook-secret")
	dir := testrig.StartSlapd(t)
	wx := wechattest.New(t)
	wx.AddApp("wxmini", "mini-secret", true)
	autoRegister := true
	s := lingpaitest.Start(t, backend, func(c *config.Config) {
		c.Grants.Enabled = append(c.Grants.Enabled, "password_ad", "wechat")
		c.LDAP = &ldapdir.Config{URL: dir.URL, BindDN: dir.ServiceDN, BindPassword: testrig.ServicePass,
			BaseDN: testrig.UsersDN, Domain: testrig.Domain, UPNSuffix: testrig.UPNSuffix, IDAttribute: "entryUUID"}
		c.LDAP.SetDefaults()
		c.WeChat = &wechat.Config{APIBaseURL: wx.URL, Timeout: 2 * time.Second, AutoRegister: &autoRegister,
			Apps: []wechat.App{{ID: "shop", AppID: "wxmini", Secret: "mini-secret", Type: "miniprogram"}}}
		if dsn != "" {
			c.Database.DSN = dsn
		}
		c.Database.QueryTimeout = queryTimeout
		c.Grants.Enabled = append(c.Grants.Enabled, "sms")
		c.SMS = &config.SMS{Config: smsgw.Config{Provider: "webhook", Webhook: smsgw.Webhook{URL: hook.URL, Secret: "hook-secret"}},
			DefaultRegion: "CN", CodeLength: 6, TTL: 5 * time.Minute, MaxAttempts: 5, ResendInterval: time.Second,
			HourlyLimit: 100, DailyLimit: 100, IPHourlyLimit: 100, DailyBudget: 1000}
		c.SMS.Config.SetDefaults()
	})
	secret := s.Client("app", []string{"client_credentials", "password", "refresh_token", "authorization_code", "sms", "password_ad", "wechat"},
		[]string{"openid", "profile", "phone", "offline_access", "api1"}, func(c *storage.Client) {
			c.RedirectURIs = storage.StringList{faultRedirect}
			c.PostLogoutRedirectURIs = storage.StringList{faultRedirect}
			c.SkipConsent = true
		})
	if _, err := s.App.Accounts.CreateUser(t.Context(), accounts.NewUser{Username: "alice", Password: "alice-password-1", Phone: faultPhone}); err != nil {
		t.Fatal(err)
	}
	return &faultRig{t: t, s: s, hook: hook, wx: wx, secret: secret}
}

// held is what a user holds when the fault begins; each must still work once afterwards.
type held struct {
	access, refresh, code, smsCode, idToken string
	browser                                 *http.Client
	csrf                                    string
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func (r *faultRig) token(form url.Values) *lingpaitest.Response {
	a := r.s.Token("app", r.secret, form)
	if a.Status == 200 {
		r.issued++
	}
	return a
}

func (r *faultRig) prepare() held {
	t := r.t
	t.Helper()
	var h held
	pw := r.token(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-password-1"}, "scope": {"openid profile offline_access"}})
	if pw.Status != 200 || pw.Str("refresh_token") == "" {
		t.Fatalf("password grant: %d %s", pw.Status, pw.Raw)
	}
	h.access, h.refresh, h.idToken = pw.Str("access_token"), pw.Str("refresh_token"), pw.Str("id_token")

	jar, _ := cookiejar.New(nil)
	h.browser = &http.Client{Jar: jar, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	page := r.browse(h.browser, http.MethodGet, "/account/login", nil)
	m := csrfRE.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("login page without csrf token: %d", page.status)
	}
	h.csrf = m[1]
	if a := r.browse(h.browser, http.MethodPost, "/account/login", url.Values{"username": {"alice"}, "password": {"alice-password-1"}, "csrf_token": {h.csrf}}); a.status != 200 {
		t.Fatalf("sign-in: %d", a.status)
	}
	// The CSRF token is bound to the browser session (issue 12): the walk's sign-in POST needs
	// one issued for the session just started.
	if m := csrfRE.FindStringSubmatch(r.browse(h.browser, http.MethodGet, "/account/login", nil).body); m != nil {
		h.csrf = m[1]
	}
	a := r.browse(h.browser, http.MethodGet, "/connect/authorize?"+authorizeQuery().Encode(), nil)
	loc, _ := url.Parse(a.header.Get("Location"))
	if a.status/100 != 3 || loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d %s", a.status, a.header.Get("Location"))
	}
	h.code = loc.Query().Get("code")

	for try := 0; ; try++ {
		a := r.s.Post("/connect/sms/code", url.Values{"phone": {faultPhone}}, "app", r.secret)
		if a.Status == http.StatusTooManyRequests && try < 3 { // sms.resend_interval (1s) since the last fault's code
			time.Sleep(1100 * time.Millisecond)
			continue
		}
		if a.Status != 200 {
			t.Fatalf("sms code: %d %s", a.Status, a.Raw)
		}
		break
	}
	h.smsCode = r.hook.Last(faultPhone)
	if h.smsCode == "" {
		t.Fatal("no SMS code sent")
	}
	return h
}

func authorizeQuery() url.Values {
	return url.Values{"client_id": {"app"}, "response_type": {"code"}, "redirect_uri": {faultRedirect},
		"scope": {"openid profile"}, "state": {"state-123456"}, "nonce": {"nonce-123456"}}
}

type browsed struct {
	status  int
	header  http.Header
	body    string
	elapsed time.Duration
}

func (r *faultRig) browse(c *http.Client, method, path string, form url.Values) browsed {
	r.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, r.s.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v (after %s)", method, path, err, time.Since(start))
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return browsed{status: resp.StatusCode, header: resp.Header, body: string(raw), elapsed: time.Since(start)}
}

// route is one request of the walk and what it must answer while the database is broken.
type route struct {
	name string
	do   func(h held) browsed
	// needsDB: the answer must be a 503 (a temporarily_unavailable JSON error, or a page); else
	// it must be the normal 200.
	needsDB bool
	// readOnly: the route only reads the database.
	readOnly bool
}

func (r *faultRig) routes() []route {
	post := func(path string, form url.Values, basic bool) func(held) browsed {
		return func(held) browsed {
			req, _ := http.NewRequest(http.MethodPost, r.s.URL+path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if basic {
				req.SetBasicAuth("app", r.secret)
			}
			return r.send(req)
		}
	}
	tokenForm := func(build func(h held) url.Values) func(held) browsed {
		return func(h held) browsed { return post("/connect/token", build(h), true)(h) }
	}
	get := func(path string) func(held) browsed {
		return func(held) browsed { req, _ := http.NewRequest(http.MethodGet, r.s.URL+path, nil); return r.send(req) }
	}
	return []route{
		{"token client_credentials", tokenForm(func(held) url.Values {
			return url.Values{"grant_type": {"client_credentials"}, "scope": {"api1"}}
		}), true, false},
		{"token password", tokenForm(func(held) url.Values {
			return url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-password-1"}}
		}), true, false},
		{"token refresh_token", tokenForm(func(h held) url.Values {
			return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {h.refresh}}
		}), true, false},
		{"token authorization_code", tokenForm(func(h held) url.Values {
			return url.Values{"grant_type": {"authorization_code"}, "code": {h.code}, "redirect_uri": {faultRedirect}}
		}), true, false},
		{"token sms", tokenForm(func(h held) url.Values {
			return url.Values{"grant_type": {"sms"}, "phone": {faultPhone}, "sms": {h.smsCode}}
		}), true, false},
		{"token password_ad", tokenForm(func(held) url.Values {
			return url.Values{"grant_type": {"password_ad"}, "username": {"alice"}, "password": {testrig.AlicePass}}
		}), true, false},
		{"token wechat", tokenForm(func(held) url.Values {
			return url.Values{"grant_type": {"wechat"}, "appid": {"wxmini"}, "code": {r.wx.IssueCode("wxmini", "o-fault", "u-fault")}}
		}), true, false},
		{"introspection", func(h held) browsed { return post("/connect/introspect", url.Values{"token": {h.access}}, true)(h) }, true, true},
		{"revocation", func(h held) browsed { return post("/connect/revocation", url.Values{"token": {h.refresh}}, true)(h) }, true, false},
		{"userinfo", func(h held) browsed {
			req, _ := http.NewRequest(http.MethodGet, r.s.URL+"/connect/userinfo", nil)
			req.Header.Set("Authorization", "Bearer "+h.access)
			return r.send(req)
		}, true, true},
		{"sms/code", post("/connect/sms/code", url.Values{"phone": {faultPhone}}, true), true, false},
		{"authorize with a session", func(h held) browsed {
			return r.browse(h.browser, http.MethodGet, "/connect/authorize?"+authorizeQuery().Encode(), nil)
		}, true, false},
		{"login", func(h held) browsed {
			return r.browse(h.browser, http.MethodPost, "/account/login", url.Values{"username": {"alice"}, "password": {"alice-password-1"}, "csrf_token": {h.csrf}})
		}, true, false},
		{"consent", func(h held) browsed {
			return r.browse(h.browser, http.MethodGet, "/account/consent?return_to="+url.QueryEscape("/connect/authorize?"+authorizeQuery().Encode()), nil)
		}, true, true},
		{"endsession", func(h held) browsed {
			return r.browse(h.browser, http.MethodGet, "/connect/endsession?"+url.Values{"id_token_hint": {h.idToken}, "post_logout_redirect_uri": {faultRedirect}}.Encode(), nil)
		}, true, false},
		{"readyz", get("/readyz"), true, true},
		{"healthz", get("/healthz"), false, false},
		{"discovery", get("/.well-known/openid-configuration"), false, false},
		{"jwks", get("/.well-known/openid-configuration/jwks"), false, false},
	}
}

func (r *faultRig) send(req *http.Request) browsed {
	r.t.Helper()
	start := time.Now()
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v (after %s)", req.Method, req.URL.Path, err, time.Since(start))
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return browsed{status: resp.StatusCode, header: resp.Header, body: string(raw), elapsed: time.Since(start)}
}

// walk sends every route while the database is broken and checks each answer: a 503 with
// Retry-After (temporarily_unavailable when JSON) within the query timeout, never a 500, never
// an unclassified "error", never a token; the routes that need no database still answer 200.
func (r *faultRig) walk(fault string, h held) {
	t := r.t
	t.Helper()
	slowest := time.Duration(0)
	for _, rt := range r.routes() {
		a := rt.do(h)
		slowest = max(slowest, a.elapsed)
		var body map[string]any
		isJSON := strings.Contains(a.header.Get("Content-Type"), "json") && json.Unmarshal([]byte(a.body), &body) == nil
		t.Logf("%s, %-26s %d in %s", fault, rt.name+":", a.status, a.elapsed.Round(time.Millisecond))
		desc := fmt.Sprintf("%s, %s: %d in %s: %.300s", fault, rt.name, a.status, a.elapsed.Round(time.Millisecond), a.body)
		if a.status >= 500 && a.status != http.StatusServiceUnavailable {
			t.Errorf("%s (a 5xx other than 503)", desc)
		}
		readOK := r.readsWork && rt.readOnly
		if isJSON && (body["error"] == "error" || body["access_token"] != nil || (body["active"] == true && !readOK)) {
			t.Errorf("%s (unclassified error, or a token or active answer from a broken database)", desc)
		}
		limit := answerWithin
		if rt.name == "readyz" {
			limit = 2*time.Second + time.Second
		}
		if a.elapsed > limit {
			t.Errorf("%s (slower than %s)", desc, limit)
		}
		if readOK && a.status == 200 {
			continue
		}
		if loc, _ := url.Parse(a.header.Get("Location")); a.status/100 == 3 && strings.HasPrefix(a.header.Get("Location"), faultRedirect) {
			// A proven redirect URI gets the error as RFC 6749 4.1.2.1 says, not a page.
			if loc.Query().Get("error") != "temporarily_unavailable" || loc.Query().Get("code") != "" {
				t.Errorf("%s: redirected to %s (want error=temporarily_unavailable)", desc, loc)
			}
			continue
		}
		if !rt.needsDB {
			if a.status != 200 {
				t.Errorf("%s (needs no database: want 200)", desc)
			}
			continue
		}
		if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
			t.Errorf("%s, Retry-After %q (want 503 with Retry-After)", desc, a.header.Get("Retry-After"))
			continue
		}
		if isJSON && rt.name != "readyz" && body["error"] != "temporarily_unavailable" {
			t.Errorf("%s (want temporarily_unavailable)", desc)
		}
	}
	t.Logf("%s: %d routes walked, slowest answer %s (query_timeout %s)", fault, len(r.routes()), slowest.Round(time.Millisecond), queryTimeout)
}

// recover waits for lingpai to serve again without a restart, then checks that what the user
// held before the fault works exactly once: nothing was consumed by the failed requests.
func (r *faultRig) recover(fault string, h held) {
	t := r.t
	t.Helper()
	start := time.Now()
	for {
		a := r.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"api1"}})
		if a.Status == 200 {
			break
		}
		if a.Status != http.StatusServiceUnavailable {
			t.Fatalf("%s, recovering: %d %s", fault, a.Status, a.Raw)
		}
		if time.Since(start) > 15*time.Second {
			t.Fatalf("%s: no recovery within 15s", fault)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%s: recovered %s after the database came back, without a restart", fault, time.Since(start).Round(time.Millisecond))
	r.issued-- // the probe above
	for _, c := range []struct {
		name string
		form url.Values
	}{
		{"refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {h.refresh}}},
		{"authorization code", url.Values{"grant_type": {"authorization_code"}, "code": {h.code}, "redirect_uri": {faultRedirect}}},
		{"sms code", url.Values{"grant_type": {"sms"}, "phone": {faultPhone}, "sms": {h.smsCode}}},
	} {
		if a := r.token(c.form); a.Status != 200 || a.Str("access_token") == "" {
			t.Errorf("%s: the %s held during the outage no longer works: %d %s", fault, c.name, a.Status, a.Raw)
		}
		if a := r.token(c.form); a.Status == 200 {
			t.Errorf("%s: the %s worked twice", fault, c.name)
		}
	}
	a := r.s.Post("/connect/introspect", url.Values{"token": {h.access}}, "app", r.secret)
	if a.Status != 200 {
		t.Errorf("%s: introspection after recovery: %d %s", fault, a.Status, a.Raw)
	}
}

// stored counts the rows that a failed request must not have changed.
func (r *faultRig) stored(db *sql.DB) map[string]int {
	out := map[string]int{}
	for _, table := range []string{"access_tokens", "refresh_tokens", "authorize_codes", "sms_codes"} {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
			r.t.Fatal(err)
		}
		out[table] = n
	}
	for name, q := range map[string]string{
		"refresh_tokens inactive":  "SELECT COUNT(*) FROM refresh_tokens WHERE active = 0",
		"authorize_codes inactive": "SELECT COUNT(*) FROM authorize_codes WHERE active = 0",
		"sms_codes used":           "SELECT COUNT(*) FROM sms_codes WHERE used = 1",
	} {
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil {
			r.t.Fatal(err)
		}
		out[name] = n
	}
	return out
}

// TestDatabaseFaultsEveryRoute breaks a private MariaDB three ways under a running lingpai:
// stopped (connection refused), frozen (SIGSTOP: connections hang) and cut (a proxy drops every
// connection), and walks every route each time.
func TestDatabaseFaultsEveryRoute(t *testing.T) {
	db := startPrivateMariaDB(t)
	t.Cleanup(func() { _ = db.cmd.Process.Signal(syscall.SIGCONT) }) // before stop, should a frozen walk fail
	proxy := startProxy(t, fmt.Sprintf("127.0.0.1:%d", db.port))
	r := startFaultRig(t, "mysql", fmt.Sprintf("root@tcp(%s)/lingpai", proxy.Addr()))
	faults := []struct {
		name       string
		break_, up func()
	}{
		{"stopped", db.stop, func() {
			if err := db.start(); err != nil {
				t.Fatal(err)
			}
		}},
		{"frozen", func() { _ = db.cmd.Process.Signal(syscall.SIGSTOP) }, func() { _ = db.cmd.Process.Signal(syscall.SIGCONT) }},
		{"cut", proxy.cut, proxy.heal},
	}
	sqlDB, err := sql.Open("mysql", db.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	for _, f := range faults {
		h := r.prepare()
		before := r.stored(sqlDB)
		f.break_()
		r.walk(f.name, h)
		f.up()
		sqlDB.SetMaxIdleConns(0) // the pool's connections died with the fault
		for deadline := time.Now().Add(15 * time.Second); sqlDB.Ping() != nil && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
		}
		sqlDB.SetMaxIdleConns(2)
		// Nothing half-written: no token, code or consumption was stored by the failed requests.
		if after := r.stored(sqlDB); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("%s: stored rows changed by failed requests: before %v, after %v", f.name, before, after)
		}
		r.recover(f.name, h)
	}
}

// sqliteLock holds the write lock of a SQLite file from another connection, as a stuck second
// process or a long maintenance job would: every write of lingpai's waits, then fails (in WAL
// mode reads still work, and a connected lingpai keeps the file from being locked any harder).
func sqliteLock(t *testing.T, path string) (lock, unlock func()) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	db.SetMaxOpenConns(1)
	var conn *sql.Conn
	lock = func() {
		var err error
		if conn, err = db.Conn(t.Context()); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"PRAGMA busy_timeout=10000", "BEGIN IMMEDIATE", "CREATE TABLE IF NOT EXISTS fault_lock (x INTEGER)", "INSERT INTO fault_lock VALUES (1)"} {
			if _, err := conn.ExecContext(t.Context(), q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	unlock = func() {
		if _, err := conn.ExecContext(t.Context(), "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
		_ = conn.Close()
	}
	return lock, unlock
}

// TestSQLiteLockedEveryRoute walks every route while another process holds the SQLite file
// locked.
func TestSQLiteLockedEveryRoute(t *testing.T) {
	r := startFaultRig(t, "sqlite", "")
	lock, unlock := sqliteLock(t, r.s.Config.Database.DSN)
	h := r.prepare()
	lock()
	r.readsWork = true
	r.walk("sqlite locked", h)
	unlock()
	r.recover("sqlite locked", h)
}
