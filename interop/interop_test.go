package interop_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
	"github.com/lingpai/lingpai/internal/upstream/smsgw"
	"github.com/lingpai/lingpai/internal/upstream/smsgw/smsgwtest"
	"github.com/lingpai/lingpai/storage"
)

// flows every script must report as passed.
var flows = []string{
	"discovery", "client_credentials_basic", "client_credentials_post", "password", "refresh_rotation_and_reuse",
	"code_pkce_confidential", "code_pkce_public", "userinfo", "introspection", "revocation", "end_session", "sms",
}

// The scripts, and how to run them. Python is Debian's (/usr/bin/python3), where
// python3-authlib (and python3-requests-oauthlib, for the Basic-encoding note) install; node
// needs `npm ci` in interop/node.
var scripts = []struct {
	name  string
	cmd   []string
	extra []string // flows only this script reports
}{
	{"oauth4webapi", []string{"node", "node/flows.mjs"}, nil},
	{"authlib", []string{"/usr/bin/python3", "python/flows.py"}, []string{"basic_secret_with_reserved_characters", "requests_oauthlib_basic_secret"}},
}

// rig is lingpai with the clients and the user the scripts expect.
type rig struct {
	s    *lingpaitest.Server
	hook *smsgwtest.Webhook
	conf map[string]any
}

const (
	webRedirect = "https://rp.example/cb"
	webLogout   = "https://rp.example/bye"
	spaRedirect = "https://spa.example/cb"
	phone       = "+8613800138000"
	// plusSecret has the characters RFC 6749 2.3.1 makes a client form-encode in Basic.
	plusSecret = "s3cr3t+with%25:reserved/chars=="
)

func start(t *testing.T, alg string) *rig {
	t.Helper()
	hook := smsgwtest.NewWebhook(t, "hook-secret")
	s := lingpaitest.Start(t, "sqlite", func(c *config.Config) {
		c.Tokens.SigningAlgorithm = alg
		c.Grants.Enabled = append(c.Grants.Enabled, "sms")
		c.SMS = &config.SMS{Config: smsgw.Config{Provider: "webhook", Webhook: smsgw.Webhook{URL: hook.URL, Secret: "hook-secret"}}}
		c.SMS.Config.SetDefaults()
		c.SMS.DefaultRegion, c.SMS.CodeLength, c.SMS.TTL, c.SMS.MaxAttempts, c.SMS.ResendInterval = "CN", 6, 5*time.Minute, 5, time.Second
		c.SMS.HourlyLimit, c.SMS.DailyLimit, c.SMS.IPHourlyLimit, c.SMS.DailyBudget = 50, 100, 200, 1000
	})
	oidc := []string{"openid", "profile", "email", "phone", "offline_access", "api1"}
	conf := map[string]any{"issuer": s.URL, "username": "alice", "password": "wonderland-2026", "phone": phone,
		"web_redirect": webRedirect, "web_logout": webLogout, "spa_redirect": spaRedirect, "audience": s.URL + "/resources",
		"plus_secret": plusSecret}
	conf["cc_secret"] = s.Client("cc", []string{"client_credentials"}, []string{"api1", "api2"})
	conf["pw_secret"] = s.Client("pw", []string{"password", "refresh_token"}, oidc)
	conf["web_secret"] = s.Client("web", []string{"authorization_code", "refresh_token"}, oidc, func(c *storage.Client) {
		c.RedirectURIs, c.PostLogoutRedirectURIs, c.SkipConsent = storage.StringList{webRedirect}, storage.StringList{webLogout}, true
	})
	s.Client("spa", []string{"authorization_code", "refresh_token"}, oidc, func(c *storage.Client) {
		c.Public, c.SecretHash, c.RequirePKCE, c.SkipConsent = true, nil, true, true
		c.RedirectURIs = storage.StringList{spaRedirect}
		if alg == "ES256" {
			c.IDTokenSignedResponseAlg = "ES256" // the public client asks for the ES256 key
		}
	})
	conf["sms_secret"] = s.Client("smsapp", []string{"sms", "refresh_token"}, []string{"openid", "phone", "offline_access"})
	s.Client("plus", []string{"client_credentials"}, []string{"api1"}, func(c *storage.Client) {
		c.SecretHash = hashing.HashGenerated([]byte(plusSecret))
	})
	if _, err := s.App.Accounts.CreateUser(context.Background(), accounts.NewUser{Username: "alice", Password: "wonderland-2026",
		Name: "Alice", Email: "alice@example.com", Phone: phone}); err != nil {
		t.Fatal(err)
	}
	return &rig{s: s, hook: hook, conf: conf}
}

// TestInterop runs every script under an RS256 and an ES256 configuration.
func TestInterop(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256"} {
		for _, sc := range scripts {
			t.Run(alg+"/"+sc.name, func(t *testing.T) {
				if _, err := exec.LookPath(sc.cmd[0]); err != nil {
					t.Fatalf("%s is not installed: .ci/run installs it", sc.cmd[0])
				}
				if _, err := os.Stat("node/node_modules/oauth4webapi"); sc.cmd[0] == "node" && err != nil {
					t.Fatal("oauth4webapi is not installed: run `npm ci` in interop/node (.ci/run does)")
				}
				r := start(t, alg)
				passed := r.run(t, sc.cmd)
				for _, f := range append(slices.Clone(flows), sc.extra...) {
					if !passed[f] {
						t.Errorf("%s: flow %s did not pass", sc.name, f)
					}
				}
				t.Logf("%s under %s: %d flows passed", sc.name, alg, len(passed))
			})
		}
	}
}

// run runs one script, answering its requests, and returns the flows it reported as passed.
func (r *rig) run(t *testing.T, cmdline []string) map[string]bool {
	t.Helper()
	raw, _ := json.Marshal(r.conf)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cmdline[0], cmdline[1:]...)
	cmd.Env = append(os.Environ(), "INTEROP_CONFIG="+string(raw))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, r.s.URL)
	passed := map[string]bool{}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		verb, arg, _ := strings.Cut(sc.Text(), " ")
		answer := ""
		switch verb {
		case "AUTHORIZE":
			answer = b.authorize(arg)
		case "LOGOUT":
			answer = b.logout(arg)
		case "SMSCODE":
			answer = r.hook.Last(arg)
		case "RESULT":
			flow, outcome, _ := strings.Cut(arg, " ")
			if outcome == "ok" {
				passed[flow] = true
			} else {
				t.Errorf("flow %s: %s", flow, outcome)
			}
			continue
		default:
			t.Logf("script: %s", sc.Text())
			continue
		}
		if _, err := io.WriteString(stdin, answer+"\n"); err != nil {
			t.Fatalf("answer %s: %v", verb, err)
		}
	}
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("%v exited: %v\n%s", cmdline, err, stderr.String())
	}
	return passed
}

// browser plays the user: a cookie jar, redirects followed by hand, alice's password typed in.
type browser struct {
	t      *testing.T
	base   string
	client *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, client: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var hidden = regexp.MustCompile(`name="(csrf_token|return_to)" value="([^"]*)"`)

func (b *browser) do(method, u string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = b.base + u
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return resp, string(page)
}

// authorize follows an authorize request through sign-in to the client's redirect URI.
func (b *browser) authorize(u string) string {
	resp, page := b.do(http.MethodGet, u, nil)
	for range 8 {
		loc, err := resp.Location()
		if err != nil {
			return fmt.Sprintf("error:no-redirect-%d:%.100s", resp.StatusCode, page)
		}
		if !strings.HasPrefix(loc.String(), b.base) {
			return loc.String()
		}
		switch loc.Path {
		case "/account/login":
			_, page = b.do(http.MethodGet, loc.String(), nil)
			form := url.Values{}
			for _, m := range hidden.FindAllStringSubmatch(page, -1) {
				form.Set(m[1], html.UnescapeString(m[2]))
			}
			form.Set("username", "alice")
			form.Set("password", "wonderland-2026")
			resp, page = b.do(http.MethodPost, "/account/login", form)
		default:
			resp, page = b.do(http.MethodGet, loc.String(), nil)
		}
	}
	return "error:redirect-loop"
}

// logout sends the end-session request and returns where the browser is sent.
func (b *browser) logout(u string) string {
	resp, page := b.do(http.MethodGet, u, nil)
	loc, err := resp.Location()
	if err != nil {
		return fmt.Sprintf("error:no-redirect-%d:%.100s", resp.StatusCode, page)
	}
	return loc.String()
}

func TestMain(m *testing.M) {
	// The scripts are run from this directory (node/..., python/...).
	if wd, err := os.Getwd(); err == nil && filepath.Base(wd) != "interop" {
		fmt.Fprintln(os.Stderr, "interop tests must run in interop/")
		os.Exit(1)
	}
	os.Exit(m.Run())
}
