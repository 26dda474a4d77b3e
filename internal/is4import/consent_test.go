package is4import_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lingpai/lingpai/internal/is4import"
	"github.com/lingpai/lingpai/internal/is4import/is4test"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
)

var hiddenField = regexp.MustCompile(`name="(csrf_token|return_to)" value="([^"]*)"`)

// askedForConsent signs user in through /connect/authorize in a fresh browser (cookie jar) and
// reports whether lingpai showed the consent page before redirecting back to the client.
func askedForConsent(t *testing.T, s *lingpaitest.Server, user string) bool {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(req *http.Request) (*http.Response, string) {
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	get := func(u string) (*http.Response, string) { return do(mustGet(t, u)) }
	post := func(path string, form url.Values) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", s.URL)
		resp, _ := do(req)
		return resp
	}
	fields := func(page string) url.Values {
		v := url.Values{}
		for _, m := range hiddenField.FindAllStringSubmatch(page, -1) {
			v.Set(m[1], html.UnescapeString(m[2]))
		}
		return v
	}
	q := url.Values{"client_id": {"portal"}, "response_type": {"code"}, "redirect_uri": {"https://portal.example/cb"},
		"scope": {"openid profile"}, "state": {"state-123"}, "nonce": {"nonce-123456"}}
	resp, _ := get(s.URL + "/connect/authorize?" + q.Encode())
	asked := false
	for range 6 {
		loc, err := resp.Location()
		if err != nil {
			t.Fatalf("authorize answered %d without a redirect", resp.StatusCode)
		}
		if loc.Host != "" && loc.Host != mustParse(t, s.URL).Host {
			if loc.Query().Get("code") == "" {
				t.Fatalf("back at the client without a code: %s", loc)
			}
			return asked
		}
		switch loc.Path {
		case "/account/login":
			_, page := get(s.URL + loc.RequestURI())
			form := fields(page)
			form.Set("username", user)
			form.Set("password", is4test.Password)
			if resp = post("/account/login", form); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign-in as %s: %d", user, resp.StatusCode)
			}
		case "/account/consent":
			asked = true
			_, page := get(s.URL + loc.RequestURI())
			form := fields(page)
			form.Set("decision", "allow")
			resp = post("/account/consent", form)
		default:
			resp, _ = get(s.URL + loc.RequestURI())
		}
	}
	t.Fatal("redirect loop")
	return false
}

// TestConsentExpiry imports IS4 consents of a RequireConsent client (PersistedGrants
// Type=user_consent, Expiration in the row and in the Data JSON, as IS4 writes them when the
// client has a ConsentLifetime): alice's live consent means she is not asked at sign-in; bob's
// expires a few seconds after the import, and then he is asked again.
func TestConsentExpiry(t *testing.T) {
	for _, p := range pairs()[:2] {
		t.Run(p.source, func(t *testing.T) {
			ctx := context.Background()
			s := lingpaitest.Start(t, p.target.Name, nil)
			src := is4test.New(t, p.source)
			is4test.Seed(t, src)
			src.AddClient(t, is4test.Client{ClientID: "portal", Enabled: true, RequireSecret: true, RequireConsent: true,
				GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid", "profile"},
				RedirectURIs: []string{"https://portal.example/cb"}, Secrets: []is4test.Secret{{Type: "SharedSecret", Value: is4test.Sha256("portal-secret")}}})
			live, soon := time.Now().Add(time.Hour).UTC().Truncate(time.Second), time.Now().Add(5*time.Second).UTC().Truncate(time.Second)
			src.AddConsentUntil(t, "a1c3f6e2-0000-4000-8000-000000000001", "portal", []string{"openid", "profile"}, &live)
			src.AddConsentUntil(t, "b0b00000-0000-4000-8000-000000000002", "portal", []string{"openid", "profile"}, &soon)
			rep, err := is4import.Run(ctx, options(src), s.Store, nil)
			if err != nil {
				t.Fatal(err)
			}
			check(t, rep, map[string]counts{"consents": {3, 3, 0, 0}}) // Seed's alice/spa and these two

			var got struct{ ExpiresAt *time.Time }
			if err := s.Store.DB(ctx).Table("consents").Where("user_id = ? AND client_id = ?", "a1c3f6e2-0000-4000-8000-000000000001", "portal").
				Select("expires_at").Take(&got).Error; err != nil || got.ExpiresAt == nil || !got.ExpiresAt.Equal(live) {
				t.Fatalf("alice's consent expires_at %v (%v), want IS4's %v", got.ExpiresAt, err, live)
			}
			if askedForConsent(t, s, "alice") {
				t.Error("alice was asked again although her IS4 consent is live")
			}
			time.Sleep(time.Until(soon) + 500*time.Millisecond)
			if !askedForConsent(t, s, "bob") {
				t.Error("bob was not asked although his IS4 consent expired")
			}
			// Consent given at lingpai's page does not expire: bob is not asked a second time.
			if askedForConsent(t, s, "bob") {
				t.Error("bob was asked again after consenting at lingpai")
			}
		})
	}
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
