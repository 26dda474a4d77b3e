package server_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/examples/pingrant"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
	"github.com/lingpai/lingpai/internal/testutil/testclock"
	"github.com/lingpai/lingpai/internal/upstream/smsgw"
	"github.com/lingpai/lingpai/internal/upstream/smsgw/smsgwtest"
	"github.com/lingpai/lingpai/internal/upstream/wechat"
	"github.com/lingpai/lingpai/internal/upstream/wechat/wechattest"
	"github.com/lingpai/lingpai/server"
	"github.com/lingpai/lingpai/storage"
)

// TestOnePipelineEveryGrant sends the same three scope requests through every grant that starts
// a token family at the token endpoint, fosite's and lingpai's own alike, and finds the same rules:
// an omitted scope is every scope the client is allowed (less the identity scopes without a user),
// a subset is granted as asked, a scope the client lacks is invalid_scope, and a client not
// registered for the grant is unauthorized_client. (Codes and refresh tokens carry the scopes of
// their original grant; grants.TestPolicyEveryGrant covers them, and password_ad against a real
// directory in passwordad_test.go.)
func TestOnePipelineEveryGrant(t *testing.T) {
	hook := smsgwtest.NewWebhook(t, "hook-secret")
	wx := wechattest.New(t)
	wx.AddApp("wxweb", "web-secret", true)
	autoRegister := true
	clock := testclock.New(time.Now().UTC())
	s := lingpaitest.Start(t, "sqlite", func(c *config.Config) {
		c.Grants.Enabled = append(c.Grants.Enabled, "sms", "wechat", "pin")
		c.SMS = &config.SMS{Config: smsgw.Config{Provider: "webhook", Webhook: smsgw.Webhook{URL: hook.URL, Secret: "hook-secret"}}}
		c.SMS.Config.SetDefaults()
		smsDefaults(c.SMS)
		c.WeChat = &wechat.Config{APIBaseURL: wx.URL, Timeout: 2 * time.Second, AutoRegister: &autoRegister,
			Apps: []wechat.App{{ID: "site", AppID: "wxweb", Secret: "web-secret", Type: "oauth"}}}
	}, server.WithGrant(pingrant.Grant{PINs: map[string]string{"kiosk1": "4321"}}), server.WithClock(clock.Now))
	all := []string{"client_credentials", "password", "sms", "wechat", "pin"}
	allowed := []string{"openid", "profile", "offline_access", "api1"}
	secret := s.Client("every", all, allowed, func(c *storage.Client) { c.Audience = []string{"https://api.example"} })
	other := s.Client("other", []string{"refresh_token"}, allowed)
	s.User("ann", "ann-password")
	const phone = "+8613800138000"
	if _, err := s.App.Accounts.CreateUser(context.Background(), accounts.NewUser{Username: "lily", Password: "lily-password", Phone: phone}); err != nil {
		t.Fatal(err)
	}
	form := map[string]func(t *testing.T) url.Values{
		"client_credentials": func(*testing.T) url.Values { return url.Values{} },
		"password":           func(*testing.T) url.Values { return url.Values{"username": {"ann"}, "password": {"ann-password"}} },
		"pin":                func(*testing.T) url.Values { return url.Values{"username": {"kiosk1"}, "pin": {"4321"}} },
		"wechat": func(*testing.T) url.Values {
			return url.Values{"code": {wx.IssueCode("wxweb", "o-ann", "u-ann")}}
		},
		"sms": func(t *testing.T) url.Values {
			if r := s.Post("/connect/sms/code", url.Values{"phone": {phone}}, "every", secret); r.Status != 200 {
				t.Fatalf("sms code: %d %s", r.Status, r.Raw)
			}
			clock.Add(2 * time.Minute) // past the resend interval for the next case
			return url.Values{"phone": {phone}, "sms": {hook.Last(phone)}}
		},
	}
	cases := []struct {
		name, scope string
		want        []string // nil: the client's scopes (less identity scopes for client_credentials)
		code        string
	}{
		{name: "scope omitted"},
		{name: "subset", scope: "api1", want: []string{"api1"}},
		{name: "not allowed", scope: "api1 admin", code: "invalid_scope"},
	}
	for _, gt := range all {
		for _, tc := range cases {
			t.Run(gt+"/"+tc.name, func(t *testing.T) {
				f := form[gt](t)
				f.Set("grant_type", gt)
				if tc.scope != "" {
					f.Set("scope", tc.scope)
				}
				r := s.Token("every", secret, f)
				if tc.code != "" {
					if r.Status != 400 || r.Str("error") != tc.code {
						t.Fatalf("got %d %s, want %s", r.Status, r.Raw, tc.code)
					}
					return
				}
				if r.Status != 200 {
					t.Fatalf("%d %s", r.Status, r.Raw)
				}
				want := tc.want
				if want == nil {
					want = allowed
					if gt == "client_credentials" {
						want = []string{"api1"}
					}
				}
				if got := strings.Fields(r.Str("scope")); !slices.Equal(sorted(got), sorted(want)) {
					t.Fatalf("scope %v, want %v", got, want)
				}
				if aud := jwtPart(t, r.Str("access_token"), 1)["aud"]; !audHas(aud, "https://api.example") {
					t.Fatalf("aud %v: the client's audience was not granted", aud)
				}
				if hasOffline := slices.Contains(want, "offline_access"); hasOffline != (r.Str("refresh_token") != "") {
					t.Fatalf("refresh token issued=%v with scopes %v", !hasOffline, want)
				}
				if hasOpenID := slices.Contains(want, "openid"); hasOpenID != (r.Str("id_token") != "") {
					t.Fatalf("id_token issued=%v with scopes %v", !hasOpenID, want)
				}
			})
		}
		t.Run(gt+"/client without the grant", func(t *testing.T) {
			f := url.Values{"grant_type": {gt}, "username": {"ann"}, "password": {"ann-password"}}
			if r := s.Token("other", other, f); r.Status != 400 || r.Str("error") != "unauthorized_client" {
				t.Fatalf("got %d %s, want unauthorized_client", r.Status, r.Raw)
			}
		})
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func audHas(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		return slices.Contains(a, any(want))
	}
	return false
}
