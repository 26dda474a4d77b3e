package is4import_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/is4import"
	"github.com/lingpai/lingpai/internal/is4import/is4test"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
	"github.com/lingpai/lingpai/internal/upstream/smsgw"
	"github.com/lingpai/lingpai/internal/upstream/smsgw/smsgwtest"
	"github.com/lingpai/lingpai/internal/upstream/wechat"
	"github.com/lingpai/lingpai/internal/upstream/wechat/wechattest"
)

const grace = "9a9a0000-0000-4000-8000-000000000009"

// startWithCustomGrants runs lingpai with grant_type=sms (a webhook gateway) and grant_type=wechat
// (a fake WeChat with the web app IS4's "Weixin" logins came from).
func startWithCustomGrants(t *testing.T, backend string) (*lingpaitest.Server, *smsgwtest.Webhook, *wechattest.Fake) {
	t.Helper()
	hook := smsgwtest.NewWebhook(t, "hook-secret")
	wx := wechattest.New(t)
	wx.AddApp("wxWEB", "web-secret", true)
	auto := false
	s := lingpaitest.Start(t, backend, func(c *config.Config) {
		c.Grants.Enabled = append(c.Grants.Enabled, "sms", "wechat")
		c.SMS = &config.SMS{Config: smsgw.Config{Provider: "webhook", Webhook: smsgw.Webhook{URL: hook.URL, Secret: "hook-secret"}}}
		c.SMS.SetDefaults()
		c.SMS.DefaultRegion, c.SMS.CodeLength, c.SMS.TTL, c.SMS.MaxAttempts, c.SMS.ResendInterval = "CN", 6, 5*time.Minute, 5, time.Minute
		c.SMS.HourlyLimit, c.SMS.DailyLimit, c.SMS.IPHourlyLimit, c.SMS.DailyBudget = 5, 10, 20, 1000
		c.WeChat = &wechat.Config{APIBaseURL: wx.URL, Timeout: 2 * time.Second, AutoRegister: &auto,
			Apps: []wechat.App{{ID: "web", AppID: "wxWEB", Secret: "web-secret", Type: "oauth"}}}
	})
	return s, hook, wx
}

// seedMobile adds what the custom-grant tests present: an "employee" identity resource (IS4's
// IdentityResources + IdentityResourceClaims), a client of the sms and wechat grants with IS4
// lifetimes of its own, and an employee who signs in by phone and by WeChat.
func seedMobile(t *testing.T, src *is4test.Source) {
	t.Helper()
	src.AddIdentityResource(t, "employee", true, "employee_id", "department")
	src.AddIdentityResource(t, "email", true, "email", "email_verified") // the standard set: nothing to add
	src.AddIdentityResource(t, "badge", false, "badge_no")               // disabled at IS4: never released
	src.AddClient(t, is4test.Client{ClientID: "mobile", Enabled: true, RequireSecret: true, AllowOffline: true,
		AccessTokenLife: 600, IDTokenLife: 900, GrantTypes: []string{"sms", "wechat"}, Scopes: []string{"openid", "profile", "employee"},
		Secrets: []is4test.Secret{{Type: "SharedSecret", Value: is4test.Sha256("mobile-secret")}}})
	src.AddUser(t, is4test.User{ID: grace, UserName: "grace", Phone: "137 0013 7000", PhoneConfirmed: true,
		Claims: [][2]string{{"employee_id", "E-1024"}, {"department", "R&D"}, {"badge_no", "B-7"}}, Logins: [][2]string{{"Weixin", "UNIONID-GRACE"}}})
}

// TestCustomGrantsAfterImport signs in by SMS and by WeChat with an imported client and user:
// the client's IS4 AccessTokenLifetime (600 s) and IdentityTokenLifetime (900 s) hold for these
// custom grants as for fosite's own, and the imported "employee" identity resource releases the
// user's employee_id and department in the id_token and at userinfo when, and only when, the
// scope is granted. Discovery lists the scope.
func TestCustomGrantsAfterImport(t *testing.T) {
	for _, p := range pairs() {
		t.Run(p.source, func(t *testing.T) {
			ctx := context.Background()
			s, hook, wx := startWithCustomGrants(t, p.target.Name)
			src := is4test.New(t, p.source)
			is4test.Seed(t, src)
			seedMobile(t, src)
			rep, err := is4import.Run(ctx, options(src), s.Store, nil)
			if err != nil {
				t.Fatal(err)
			}
			// Seed's openid and profile (no claims) and email are lingpai's built-in sets.
			check(t, rep, map[string]counts{"identity-resources": {5, 2, 0, 3}})

			smsToken := func(scope string) *lingpaitest.Response {
				t.Helper()
				if r := s.Post("/connect/sms/code", url.Values{"phone": {"+8613700137000"}}, "mobile", "mobile-secret"); r.Status != 200 {
					t.Fatalf("sms code: %d %s", r.Status, r.Raw)
				}
				code := hook.Last("+8613700137000")
				return s.Token("mobile", "mobile-secret", url.Values{"grant_type": {"sms"}, "phone": {"137 0013 7000"}, "sms": {code}, "scope": {scope}})
			}
			wxToken := s.Token("mobile", "mobile-secret", url.Values{"grant_type": {"wechat"}, "appid": {"wxWEB"},
				"code": {wx.IssueCode("wxWEB", "o-web-grace", "UNIONID-GRACE")}, "scope": {"openid employee"}})
			for name, r := range map[string]*lingpaitest.Response{"sms": smsToken("openid employee offline_access"), "wechat": wxToken} {
				if r.Status != 200 {
					t.Fatalf("%s: %d %s", name, r.Status, r.Raw)
				}
				at, id := idTokenClaims(t, r.Str("access_token")), idTokenClaims(t, r.Str("id_token"))
				if e := r.Body["expires_in"]; e != float64(600) && e != float64(599) { // rounded to the second
					t.Errorf("%s: expires_in %v, want the client's AccessTokenLifetime 600", name, e)
				}
				if life := at["exp"].(float64) - at["iat"].(float64); life < 599 || life > 601 {
					t.Errorf("%s: access token exp-iat %v, want 600", name, life)
				}
				if life := id["exp"].(float64) - id["iat"].(float64); life < 899 || life > 901 {
					t.Errorf("%s: id_token exp-iat %v, want the client's IdentityTokenLifetime 900", name, life)
				}
				if id["sub"] != grace || id["employee_id"] != "E-1024" || id["department"] != "R&D" || id["badge_no"] != nil || at["badge_no"] != nil {
					t.Errorf("%s: id_token %v, want grace's employee_id and department", name, id)
				}
				req, _ := http.NewRequest(http.MethodGet, s.URL+"/connect/userinfo", nil)
				req.Header.Set("Authorization", "Bearer "+r.Str("access_token"))
				if ui := s.Do(req); ui.Status != 200 || ui.Body["employee_id"] != "E-1024" || ui.Body["department"] != "R&D" {
					t.Errorf("%s: userinfo %d %s", name, ui.Status, ui.Raw)
				}
			}

			// Without the employee scope the claims stay out of both tokens and userinfo.
			r := s.Token("mobile", "mobile-secret", url.Values{"grant_type": {"wechat"}, "appid": {"wxWEB"},
				"code": {wx.IssueCode("wxWEB", "o-web-grace", "UNIONID-GRACE")}, "scope": {"openid profile"}})
			if r.Status != 200 {
				t.Fatalf("wechat without employee: %d %s", r.Status, r.Raw)
			}
			for _, tok := range []string{r.Str("access_token"), r.Str("id_token")} {
				if c := idTokenClaims(t, tok); c["employee_id"] != nil || c["department"] != nil {
					t.Errorf("employee claims without the employee scope: %v", c)
				}
			}
			req, _ := http.NewRequest(http.MethodGet, s.URL+"/connect/userinfo", nil)
			req.Header.Set("Authorization", "Bearer "+r.Str("access_token"))
			if ui := s.Do(req); ui.Status != 200 || ui.Body["employee_id"] != nil {
				t.Errorf("userinfo without the employee scope: %d %s", ui.Status, ui.Raw)
			}

			disc := s.Do(mustGet(t, s.URL+"/.well-known/openid-configuration"))
			scopes, _ := disc.Body["scopes_supported"].([]any)
			claims, _ := disc.Body["claims_supported"].([]any)
			if !slices.Contains(scopes, any("employee")) || !slices.Contains(claims, any("employee_id")) || slices.Contains(scopes, any("badge")) || slices.Contains(scopes, any("")) {
				t.Errorf("discovery: scopes %v claims %v", scopes, claims)
			}
		})
	}
}

func mustGet(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
