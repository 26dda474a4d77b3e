package server_test

import (
	"context"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
	"github.com/lingpai/lingpai/internal/testutil/rptest"
	"github.com/lingpai/lingpai/storage"
)

// browser starts headless Chromium (Debian's) for one test; each call gets a fresh profile.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("BROWSER TEST SKIPPED: chromium is not installed (apt-get install chromium)")
	}
	profile, err := os.MkdirTemp("", "lingpai-rig-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // after the browser is cancelled (cleanups run last-in first-out)
		for i := 0; i < 20 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond) // chromium may still be writing its profile
		}
	})
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.UserDataDir(profile),
		chromedp.WindowSize(1000, 760))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 90*time.Second) // a missing element would wait forever
	t.Cleanup(cancel3)
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

func webClient(rp *rptest.RP, public bool) func(*storage.Client) {
	return func(c *storage.Client) {
		c.Name = "Demo App 演示应用"
		c.RedirectURIs = storage.StringList{rp.URL + "/callback"}
		c.PostLogoutRedirectURIs = storage.StringList{rp.URL + "/bye"}
		if public {
			c.Public, c.SecretHash, c.RequirePKCE = true, nil, true
		}
	}
}

// startWeb runs lingpai plus an RP whose client is registered once the RP's URL is known.
func startWeb(t *testing.T, backend string, public bool, mutate ...func(*storage.Client)) (*lingpaitest.Server, *rptest.RP) {
	t.Helper()
	s := lingpaitest.Start(t, backend, nil)
	secret := ""
	scopes := []string{"openid", "profile", "email", "offline_access"}
	// Discovery needs the server; the client needs the RP's URL: register after both exist.
	rp := rptest.Start(t, s.URL, "web", "", scopes)
	all := append([]func(*storage.Client){webClient(rp, public)}, mutate...)
	secret = s.Client("web", []string{"authorization_code", "refresh_token"}, scopes, all...)
	if !public {
		rp.Config.ClientSecret = secret
	}
	u := s.User("alice", "wonderland-2026")
	u.Name = "Alice 爱丽丝"
	if err := s.Store.SaveUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return s, rp
}

func signIn(user, pass string) chromedp.Tasks {
	return chromedp.Tasks{
		chromedp.WaitVisible("#username", chromedp.ByQuery),
		chromedp.SendKeys("#username", user, chromedp.ByQuery),
		chromedp.SendKeys("#password", pass, chromedp.ByQuery),
		chromedp.Click("#submit", chromedp.ByQuery),
	}
}

func TestBrowserSignInConsentUserinfoLogout(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		s, rp := startWeb(t, backend, false)
		ctx := browser(t)
		var sub, loc, lang string
		err := chromedp.Run(ctx,
			chromedp.Navigate(rp.URL+"/login"),
			chromedp.AttributeValue("html", "lang", &lang, nil, chromedp.ByQuery),
			signIn("alice", "wonderland-2026"),
			chromedp.WaitVisible("#allow", chromedp.ByQuery),
			chromedp.Click("#allow", chromedp.ByQuery),
			chromedp.WaitVisible("#signed-in", chromedp.ByQuery),
			chromedp.Text("#signed-in", &sub, chromedp.ByQuery),
		)
		if err != nil {
			t.Fatalf("sign-in: %v (rp result %+v)", err, rp.Result())
		}
		res := rp.Result()
		if res.Error != "" || sub == "" || res.Subject != sub {
			t.Fatalf("RP saw %+v, page %q", res, sub)
		}
		if res.UserInfo["preferred_username"] != "alice" || res.UserInfo["email"] != "alice@example.com" || res.UserInfo["name"] != "Alice 爱丽丝" {
			t.Fatalf("userinfo %v", res.UserInfo)
		}
		claims := jwtPart(t, res.IDToken, 1)
		if claims["sid"] == nil || claims["auth_time"] == nil || claims["nonce"] == nil || claims["at_hash"] == nil {
			t.Fatalf("id_token claims %v", claims)
		}
		if amr, _ := claims["amr"].([]any); len(amr) != 1 || amr[0] != "pwd" {
			t.Fatalf("amr %v", claims["amr"])
		}
		if res.Token.RefreshToken == "" {
			t.Fatal("no refresh token with offline_access")
		}
		if lang != "en" { // headless Chromium sends Accept-Language: en-US
			t.Fatalf("page language %q for Accept-Language en-US, want en", lang)
		}
		// A second sign-in reuses the session and the remembered consent: straight back to the RP.
		rp.Reset() // under the RP's lock: its callback goroutine writes Last
		if err := chromedp.Run(ctx, chromedp.Navigate(rp.URL+"/login"), chromedp.WaitVisible("#signed-in", chromedp.ByQuery)); err != nil {
			t.Fatalf("silent second sign-in: %v", err)
		}
		if again := rp.Result(); again.Error != "" || again.Subject != sub {
			t.Fatalf("silent second sign-in: RP saw %+v", again)
		}
		// Logout ends the session and returns to the registered URI with state: wait for that
		// page rather than a fixed time.
		if err := chromedp.Run(ctx, chromedp.Click("#logout", chromedp.ByQuery), chromedp.WaitVisible("#signed-out", chromedp.ByQuery),
			chromedp.Location(&loc)); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(loc, rp.URL+"/bye") || !strings.Contains(loc, "state=s1") {
			t.Fatalf("after logout at %s", loc)
		}
		if err := chromedp.Run(ctx, chromedp.Navigate(rp.URL+"/login"), chromedp.WaitVisible("#username", chromedp.ByQuery)); err != nil {
			t.Fatalf("session survived logout: %v", err)
		}
		_ = s
	})
}

func TestBrowserWrongPasswordAndDeniedConsent(t *testing.T) {
	each(t, func(t *testing.T, backend string) { browserWrongPasswordAndDeniedConsent(t, backend) })
}

func browserWrongPasswordAndDeniedConsent(t *testing.T, backend string) {
	_, rp := startWeb(t, backend, false)
	rp.Params.Set("ui_locales", "zh-CN") // the OIDC request's wish beats Accept-Language
	ctx := browser(t)
	var alert, lang string
	err := chromedp.Run(ctx,
		chromedp.Navigate(rp.URL+"/login"),
		signIn("alice", "not-her-password"),
		chromedp.WaitVisible(".alert", chromedp.ByQuery),
		chromedp.Text(".alert", &alert, chromedp.ByQuery),
		chromedp.AttributeValue("html", "lang", &lang, nil, chromedp.ByQuery),
	)
	if err != nil || !strings.Contains(alert, "不正确") || lang != "zh-CN" {
		t.Fatalf("wrong password: %v %q", err, alert)
	}
	var errText string
	err = chromedp.Run(ctx,
		chromedp.Navigate(rp.URL+"/login"),
		signIn("alice", "wonderland-2026"),
		chromedp.WaitVisible("#deny", chromedp.ByQuery),
		chromedp.Click("#deny", chromedp.ByQuery),
		chromedp.WaitVisible("#error", chromedp.ByQuery),
		chromedp.Text("#error", &errText, chromedp.ByQuery),
	)
	if err != nil || errText != "access_denied" {
		t.Fatalf("denied consent: %v %q", err, errText)
	}
}

func TestBrowserPublicClientFormPost(t *testing.T) {
	each(t, func(t *testing.T, backend string) { browserPublicClientFormPost(t, backend) })
}

func browserPublicClientFormPost(t *testing.T, backend string) {
	_, rp := startWeb(t, backend, true, func(c *storage.Client) { c.SkipConsent = true })
	rp.Params.Set("response_mode", "form_post")
	rp.Params.Set("ui_locales", "en")
	ctx := browser(t)
	var sub, heading string
	err := chromedp.Run(ctx,
		chromedp.Navigate(rp.URL+"/login"),
		chromedp.WaitVisible("h1", chromedp.ByQuery),
		chromedp.Text("h1", &heading, chromedp.ByQuery),
		signIn("alice", "wonderland-2026"),
		chromedp.WaitVisible("#signed-in", chromedp.ByQuery),
		chromedp.Text("#signed-in", &sub, chromedp.ByQuery),
	)
	if err != nil || sub == "" || rp.Result().Error != "" {
		t.Fatalf("public client with form_post: %v %+v", err, rp.Result())
	}
	if heading != "Sign in to your account" {
		t.Fatalf("ui_locales=en gave heading %q", heading)
	}
	if os.Getenv("LINGPAI_SCREENSHOTS") != "" && backend == "sqlite" {
		shoot(t, rp, "en", "login-en.png")
		shoot(t, rp, "zh-CN", "login-zh-CN.png")
		_, crp := startWeb(t, "sqlite", false)
		shootConsent(t, crp, "en", "consent-en.png")
		shootConsent(t, crp, "zh-CN", "consent-zh-CN.png")
	}
}

func shootConsent(t *testing.T, rp *rptest.RP, lang, name string) {
	ctx := browser(t)
	rp.Params.Set("ui_locales", lang)
	var png []byte
	if err := chromedp.Run(ctx, chromedp.Navigate(rp.URL+"/login"), signIn("alice", "wonderland-2026"),
		chromedp.WaitVisible("#allow", chromedp.ByQuery), chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("..", "docs", name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// shoot saves the sign-in page in lang to docs/ (run with LINGPAI_SCREENSHOTS=1 to refresh them).
func shoot(t *testing.T, rp *rptest.RP, lang, name string) {
	ctx := browser(t)
	rp.Params.Set("ui_locales", lang)
	var png []byte
	if err := chromedp.Run(ctx, chromedp.Navigate(rp.URL+"/login"), chromedp.WaitVisible("#username", chromedp.ByQuery),
		chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("..", "docs", name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// flow drives the browser endpoints over plain HTTP with a cookie jar, for the protocol cases.
type flow struct {
	t          *testing.T
	s          *lingpaitest.Server
	client     *http.Client
	user, pass string // who signs in on the login page
}

func newFlow(t *testing.T, s *lingpaitest.Server) *flow {
	jar, _ := cookiejar.New(nil)
	return &flow{t: t, s: s, user: "alice", pass: "wonderland-2026", client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (f *flow) get(u string) (*http.Response, string) {
	f.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = f.s.URL + u
	}
	resp, err := f.client.Get(u)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (f *flow) post(u string, form url.Values) (*http.Response, string) {
	f.t.Helper()
	resp, err := f.client.PostForm(f.s.URL+u, form)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var hidden = regexp.MustCompile(`name="(csrf_token|return_to)" value="([^"]*)"`)

func formFields(body string) url.Values {
	v := url.Values{}
	for _, m := range hidden.FindAllStringSubmatch(body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// authorize walks authorize → login → consent (allowing) and returns the final redirect.
func (f *flow) authorize(q url.Values) *url.URL {
	f.t.Helper()
	resp, _ := f.get("/connect/authorize?" + q.Encode())
	for i := 0; i < 6; i++ {
		loc, err := resp.Location()
		if err != nil {
			f.t.Fatalf("authorize answered %d without a redirect", resp.StatusCode)
		}
		switch loc.Path {
		case "/account/login":
			_, page := f.get(loc.String())
			form := formFields(page)
			form.Set("username", f.user)
			form.Set("password", f.pass)
			resp, _ = f.post("/account/login", form)
			if resp.StatusCode != http.StatusSeeOther {
				f.t.Fatalf("sign-in as %s: %d", f.user, resp.StatusCode)
			}
		case "/account/consent":
			_, page := f.get(loc.String())
			form := formFields(page)
			form.Set("decision", "allow")
			resp, _ = f.post("/account/consent", form)
		case "/connect/authorize":
			resp, _ = f.get(loc.String())
		default:
			return loc
		}
	}
	f.t.Fatal("redirect loop")
	return nil
}

func TestAuthorizeProtocolCases(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		s, rp := startWeb(t, backend, false)
		verifier := oauth2.GenerateVerifier()
		base := func() url.Values {
			return url.Values{"client_id": {"web"}, "response_type": {"code"}, "redirect_uri": {rp.URL + "/callback"},
				"scope": {"openid profile offline_access"}, "state": {"state-123"}, "nonce": {"nonce-123456"},
				"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
		}
		t.Run("prompt=none without a session is login_required", func(t *testing.T) {
			q := base()
			q.Set("prompt", "none")
			resp, _ := newFlow(t, s).get("/connect/authorize?" + q.Encode())
			loc, _ := resp.Location()
			if loc == nil || loc.Query().Get("error") != "login_required" || loc.Query().Get("state") != "state-123" {
				t.Fatalf("got %d %v", resp.StatusCode, loc)
			}
		})
		t.Run("unregistered redirect URI shows an error page and never redirects", func(t *testing.T) {
			q := base()
			q.Set("redirect_uri", "https://evil.example/cb")
			resp, body := newFlow(t, s).get("/connect/authorize?" + q.Encode())
			if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(body, "<html") {
				t.Fatalf("got %d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			q.Set("client_id", "nobody")
			if resp, _ := newFlow(t, s).get("/connect/authorize?" + q.Encode()); resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
				t.Fatalf("unknown client: %d", resp.StatusCode)
			}
		})
		t.Run("code is single use; a replay revokes what it issued", func(t *testing.T) {
			f := newFlow(t, s)
			loc := f.authorize(base())
			code := loc.Query().Get("code")
			if code == "" || loc.Query().Get("state") != "state-123" {
				t.Fatalf("callback %v", loc)
			}
			ctx := context.Background()
			tok, err := rp.Config.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatal(err)
			}
			_, err = rp.Config.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
				t.Fatalf("replayed code: %v", err)
			}
			if active(t, s, "web", rp.Config.ClientSecret, tok.AccessToken) {
				t.Fatal("access token from a replayed code is still active")
			}
		})
		t.Run("wrong PKCE verifier", func(t *testing.T) {
			loc := newFlow(t, s).authorize(base())
			_, err := rp.Config.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier()))
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
				t.Fatalf("wrong verifier: %v", err)
			}
		})
		t.Run("plain PKCE is refused", func(t *testing.T) {
			q := base()
			q.Set("code_challenge_method", "plain")
			q.Set("code_challenge", verifier)
			loc := newFlow(t, s).authorize(q)
			if loc.Query().Get("error") == "" {
				t.Fatalf("plain accepted: %v", loc)
			}
		})
		t.Run("prompt=login asks again although signed in", func(t *testing.T) {
			f := newFlow(t, s)
			f.authorize(base())
			q := base()
			q.Set("prompt", "login")
			resp, _ := f.get("/connect/authorize?" + q.Encode())
			if loc, _ := resp.Location(); loc == nil || loc.Path != "/account/login" {
				t.Fatalf("prompt=login went to %v", loc)
			}
			q.Set("prompt", "none")
			resp, _ = f.get("/connect/authorize?" + q.Encode())
			if loc, _ := resp.Location(); loc == nil || loc.Query().Get("code") == "" {
				t.Fatalf("prompt=none with a session and consent: %v", loc)
			}
		})
		t.Run("CSRF: login and consent posts without a valid token are refused", func(t *testing.T) {
			f := newFlow(t, s)
			resp, _ := f.get("/connect/authorize?" + base().Encode())
			loc, _ := resp.Location()
			_, page := f.get(loc.String())
			form := formFields(page)
			form.Set("username", "alice")
			form.Set("password", "wonderland-2026")
			form.Set("csrf_token", "forged")
			if resp, _ := f.post("/account/login", form); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("forged login token: %d", resp.StatusCode)
			}
			form.Del("csrf_token")
			if resp, _ := f.post("/account/login", form); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("missing login token: %d", resp.StatusCode)
			}
			g := newFlow(t, s)
			g.authorize(base()) // signed in, consent given
			q := base()
			q.Set("prompt", "consent")
			resp, _ = g.get("/connect/authorize?" + q.Encode())
			cl, _ := resp.Location()
			_, page = g.get(cl.String())
			cf := formFields(page)
			cf.Set("decision", "allow")
			cf.Set("csrf_token", "forged")
			if resp, _ := g.post("/account/consent", cf); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("forged consent token: %d", resp.StatusCode)
			}
		})
		t.Run("open redirect through return_to is refused", func(t *testing.T) {
			// A foreign return_to is ignored: the plain sign-in page, which never redirects.
			f := newFlow(t, s)
			evil := url.QueryEscape("https://evil.example/")
			resp, page := f.get("/account/login?return_to=" + evil)
			if resp.StatusCode != 200 || strings.Contains(page, "evil.example") || !strings.Contains(page, `name="password"`) {
				t.Fatalf("got %d %q", resp.StatusCode, page)
			}
			form := formFields(page)
			form.Set("return_to", "https://evil.example/")
			form.Set("username", "alice")
			form.Set("password", "wonderland-2026")
			resp, page = f.post("/account/login", form)
			if resp.StatusCode != 200 || resp.Header.Get("Location") != "" || !strings.Contains(page, `id="signedin"`) {
				t.Fatalf("sign-in with a foreign return_to: %d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			for _, rt := range []string{"//evil.example/connect/authorize", "/connect/authorize/../../evil", "https:/connect/authorize"} {
				resp, _ := f.post("/account/login", url.Values{"return_to": {rt}})
				if resp.Header.Get("Location") != "" {
					t.Fatalf("return_to %q redirected to %q", rt, resp.Header.Get("Location"))
				}
			}
		})
	})
}

// TestRequirePKCEClient: a confidential client registered with --require-pkce, and every public
// client, is refused an authorization request without a code_challenge.
func TestRequirePKCEClient(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		for _, tt := range []struct {
			name   string
			public bool
		}{{"confidential client with require_pkce", false}, {"public client", true}} {
			t.Run(tt.name, func(t *testing.T) {
				s, rp := startWeb(t, backend, tt.public, func(c *storage.Client) { c.RequirePKCE = !tt.public; c.SkipConsent = true })
				q := url.Values{"client_id": {"web"}, "response_type": {"code"}, "redirect_uri": {rp.URL + "/callback"},
					"scope": {"openid"}, "state": {"state-xyz"}}
				loc := newFlow(t, s).authorize(q)
				if loc.Query().Get("error") != "invalid_request" || loc.Query().Get("state") != "state-xyz" {
					t.Fatalf("no code_challenge: %v", loc)
				}
			})
		}
	})
}
