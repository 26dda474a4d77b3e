package server_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
	"github.com/lingpai/lingpai/internal/testutil/rptest"
	"github.com/lingpai/lingpai/internal/testutil/testrig"
	"github.com/lingpai/lingpai/internal/upstream/ldapdir"
	"github.com/lingpai/lingpai/storage"
)

func startAD(t *testing.T, backend string, s *testrig.Slapd, tune func(*ldapdir.Config)) (*lingpaitest.Server, string) {
	t.Helper()
	srv := lingpaitest.Start(t, backend, func(c *config.Config) {
		c.Grants.Enabled = append(c.Grants.Enabled, "password_ad")
		c.Throttle.MaxFailures = 3
		c.LDAP = &ldapdir.Config{URL: s.URL, StartTLS: true, CAFile: s.CAFile, BindDN: s.ServiceDN, BindPassword: testrig.ServicePass,
			BaseDN: testrig.UsersDN, Domain: testrig.Domain, UPNSuffix: testrig.UPNSuffix, IDAttribute: "entryUUID",
			GroupClaims: true, RequiredGroups: []string{"lingpai-users"}}
		if tune != nil {
			tune(c.LDAP)
		}
		c.LDAP.SetDefaults()
	})
	secret := srv.Client("app", []string{"password_ad", "refresh_token"}, []string{"openid", "profile", "phone", "offline_access"})
	return srv, secret
}

func adForm(user, pass string) url.Values {
	return url.Values{"grant_type": {"password_ad"}, "username": {user}, "password": {pass}}
}

func TestPasswordADSignIn(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		dir := testrig.StartSlapd(t)
		s, secret := startAD(t, backend, dir, nil)
		var subs []any
		for _, user := range []string{"alice", "alice@corp.example", `CORP\alice`} {
			r := s.Token("app", secret, adForm(user, testrig.AlicePass))
			if r.Status != 200 || r.Str("refresh_token") == "" {
				t.Fatalf("%s: %d %s", user, r.Status, r.Raw)
			}
			id, at := jwtPart(t, r.Str("id_token"), 1), jwtPart(t, r.Str("access_token"), 1)
			for _, claims := range []map[string]any{id, at} {
				groups, _ := claims["groups"].([]any)
				if claims["preferred_username"] != "alice" || claims["name"] != "Alice Liddell" || len(groups) != 1 || groups[0] != "lingpai-users" {
					t.Fatalf("claims %v", claims)
				}
				if claims["phone_number"] != "+8613800138000" { // telephoneNumber "+86 138 0013 8000", in E.164
					t.Fatalf("phone_number: %v", claims)
				}
			}
			subs = append(subs, id["sub"])
		}
		if subs[0] != subs[1] || subs[1] != subs[2] {
			t.Fatalf("one person, several subs: %v", subs)
		}
		// The directory's phone is a claim only: it does not become the account's SMS sign-in phone.
		u, err := s.Store.UserByID(context.Background(), subs[0].(string))
		if err != nil || u.Phone != nil {
			t.Fatalf("account %+v %v", u, err)
		}
		// A phone changed in the directory is in the next sign-in's claims (as name and email are).
		admin := dir.Admin()
		m := ldap.NewModifyRequest("CN=Alice Liddell,"+testrig.UsersDN, nil)
		m.Replace("telephoneNumber", []string{"139 0013 9000"})
		if err := admin.Modify(m); err != nil {
			t.Fatal(err)
		}
		admin.Close()
		r := s.Token("app", secret, adForm("alice", testrig.AlicePass))
		if r.Status != 200 {
			t.Fatalf("after the phone change: %d %s", r.Status, r.Raw)
		}
		for _, claims := range []map[string]any{jwtPart(t, r.Str("id_token"), 1), jwtPart(t, r.Str("access_token"), 1)} {
			if claims["phone_number"] != "+8613900139000" || claims["sub"] != subs[0] {
				t.Fatalf("after the phone change: %v", claims)
			}
		}
		if ref := s.Token("app", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.Str("refresh_token")}}); ref.Status != 200 ||
			jwtPart(t, ref.Str("access_token"), 1)["phone_number"] != "+8613900139000" {
			t.Fatalf("refreshed after the phone change: %d %s", ref.Status, ref.Raw)
		}
		// No phone in the directory, no phone_number.
		if r := s.Token("app", secret, adForm("bob", testrig.BobPass)); r.Status != 200 || jwtPart(t, r.Str("id_token"), 1)["phone_number"] != nil {
			t.Fatalf("bob: %d %s", r.Status, r.Raw)
		}
		// Every refusal has the same body; the log says which it was.
		var first string
		for _, f := range []url.Values{adForm("alice", "wrong"), adForm("mallory", "x"), adForm("carol", testrig.CarolPass),
			adForm("dave", testrig.DavePass), adForm("alice", ""), adForm("*", testrig.AlicePass)} {
			r := s.Token("app", secret, f)
			if r.Status != 400 || r.Str("error") != "invalid_grant" {
				t.Fatalf("%v: %d %s", f, r.Status, r.Raw)
			}
			if first == "" {
				first = r.Raw
			} else if r.Raw != first {
				t.Fatalf("refusals differ:\n%s\n%s", first, r.Raw)
			}
		}
		logs := s.Logs.String()
		for _, reason := range []string{"wrong password", "unknown user", "account disabled", "not in ldap.required_groups", "empty password"} {
			if !strings.Contains(logs, reason) {
				t.Errorf("log does not say %q", reason)
			}
		}
		if strings.Contains(logs, testrig.AlicePass) || strings.Contains(logs, testrig.ServicePass) {
			t.Fatal("a password reached the log")
		}
	})
}

func TestPasswordADOutageRenameAndRefresh(t *testing.T) {
	dir := testrig.StartSlapd(t)
	s, secret := startAD(t, "sqlite", dir, func(c *ldapdir.Config) { c.RequiredGroups = nil })
	first := s.Token("app", secret, adForm("dave", testrig.DavePass))
	if first.Status != 200 {
		t.Fatal(first.Raw)
	}
	sub := jwtPart(t, first.Str("access_token"), 1)["sub"]
	dir.Stop()
	if r := s.Token("app", secret, adForm("dave", testrig.DavePass)); r.Status != 503 || r.Str("error") != "temporarily_unavailable" {
		t.Fatalf("directory down: %d %s", r.Status, r.Raw)
	}
	dir.Start()
	if r := s.Token("app", secret, adForm("dave", testrig.DavePass)); r.Status != 200 {
		t.Fatalf("directory back: %d %s", r.Status, r.Raw)
	}
	dir.Rename("Dave Nogroup", "David Nogroup", "david")
	renamed := s.Token("app", secret, adForm("david", testrig.DavePass))
	if renamed.Status != 200 || jwtPart(t, renamed.Str("access_token"), 1)["sub"] != sub {
		t.Fatalf("rename changed sub: %s", renamed.Raw)
	}
	if ref := s.Token("app", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {renamed.Str("refresh_token")}}); ref.Status != 200 {
		t.Fatalf("refresh of an enabled user: %s", ref.Raw)
	}
	dir.Disable("David Nogroup")
	ref := s.Token("app", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.Str("refresh_token")}})
	if ref.Status != 400 || ref.Str("error") != "invalid_grant" {
		t.Fatalf("refresh of a user disabled in AD: %d %s", ref.Status, ref.Raw)
	}
	if active(t, s, "app", secret, first.Str("access_token")) {
		t.Fatal("the disabled user's token family was not revoked")
	}
}

func TestPasswordADThrottled(t *testing.T) {
	dir := testrig.StartSlapd(t)
	s, secret := startAD(t, "sqlite", dir, nil)
	for _, u := range []string{"alice", `CORP\alice`, "alice@corp.example"} { // one account, however written
		s.Token("app", secret, adForm(u, "wrong"))
	}
	if r := s.Token("app", secret, adForm("alice", testrig.AlicePass)); r.Status != 400 || r.Str("error") != "invalid_grant" {
		t.Fatalf("right password during lockout: %d %s", r.Status, r.Raw)
	}
	if r := s.Token("app", secret, adForm("bob", testrig.BobPass)); r.Status != 200 {
		t.Fatalf("another user: %s", r.Raw)
	}
}

func TestPasswordADNeedsItsSection(t *testing.T) {
	cfg := config.Default()
	cfg.Grants.Enabled = append(cfg.Grants.Enabled, "password_ad")
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "ldap: required when grants.enabled lists password_ad") {
		t.Fatalf("missing ldap section: %v", err)
	}
}

// TestPasswordADSamba signs in through lingpai against a real AD DC, with every username form.
func TestPasswordADSamba(t *testing.T) {
	dc := testrig.StartSamba(t)
	s := lingpaitest.Start(t, "mysql", func(c *config.Config) {
		c.Grants.Enabled = append(c.Grants.Enabled, "password_ad")
		c.LDAP = &ldapdir.Config{URL: dc.LDAPSURL, CAFile: dc.CAFile, BindDN: dc.ServiceDN, BindPassword: testrig.ServicePass,
			BaseDN: testrig.UsersDN, Domain: testrig.Domain, UPNSuffix: testrig.UPNSuffix, RequiredGroups: []string{"lingpai-users"}, GroupClaims: true}
		c.LDAP.SetDefaults()
	})
	secret := s.Client("app", []string{"password_ad"}, []string{"openid", "profile"})
	var sub any
	for _, user := range []string{"alice", `CORP\alice`, "alice@corp.example"} {
		r := s.Token("app", secret, adForm(user, testrig.AlicePass))
		if r.Status != 200 {
			t.Fatalf("%s: %d %s", user, r.Status, r.Raw)
		}
		id := jwtPart(t, r.Str("id_token"), 1)
		if sub != nil && id["sub"] != sub {
			t.Fatalf("sub changed with the username form: %v vs %v", id["sub"], sub)
		}
		sub = id["sub"]
	}
	if r := s.Token("app", secret, adForm("frank", testrig.FrankPass)); r.Str("error") != "invalid_grant" {
		t.Fatalf("must-change password: %s", r.Raw)
	}
	if !strings.Contains(s.Logs.String(), "AD sub-code 773") {
		t.Fatal("the AD sub-code is not in the log")
	}
}

// TestBrowserSignInWithDirectoryUser: the login page accepts Active Directory users once
// password_ad is configured, and local users keep signing in locally.
func TestBrowserSignInWithDirectoryUser(t *testing.T) {
	dir := testrig.StartSlapd(t)
	s, _ := startAD(t, "sqlite", dir, nil)
	s.User("localuser", "local-password-1")
	rp := rptest.Start(t, s.URL, "web", "", []string{"openid", "profile"})
	rp.Config.ClientSecret = s.Client("web", []string{"authorization_code"}, []string{"openid", "profile"}, webClient(rp, false),
		func(c *storage.Client) { c.SkipConsent = true })
	q := url.Values{"client_id": {"web"}, "response_type": {"code"}, "redirect_uri": {rp.URL + "/callback"},
		"scope": {"openid profile"}, "state": {"state-123"}}
	for _, who := range [][2]string{{`CORP\bob`, testrig.BobPass}, {"localuser", "local-password-1"}} {
		f := newFlow(t, s)
		f.user, f.pass = who[0], who[1]
		loc := f.authorize(q)
		tok, err := rp.Config.Exchange(context.Background(), loc.Query().Get("code"))
		if err != nil {
			t.Fatalf("%s: %v", who[0], err)
		}
		claims := jwtPart(t, tok.Extra("id_token").(string), 1)
		if who[0] == `CORP\bob` && claims["preferred_username"] != "bob" {
			t.Fatalf("directory user's claims %v", claims)
		}
	}
	// A wrong directory password gets the one sign-in message.
	f := newFlow(t, s)
	resp, _ := f.get("/connect/authorize?" + q.Encode())
	l, _ := resp.Location()
	_, page := f.get(l.String())
	form := formFields(page)
	form.Set("username", "bob")
	form.Set("password", "wrong")
	if resp, body := f.post("/account/login", form); resp.StatusCode != 401 || !strings.Contains(body, "用户名或密码不正确") && !strings.Contains(body, "incorrect") {
		t.Fatalf("wrong directory password: %d", resp.StatusCode)
	}
}

// TestUpstreamMetrics: directory calls are timed, and only outages count as upstream errors.
func TestUpstreamMetrics(t *testing.T) {
	dir := testrig.StartSlapd(t)
	s, secret := startAD(t, "sqlite", dir, nil)
	s.Token("app", secret, adForm("alice", testrig.AlicePass))
	s.Token("app", secret, adForm("alice", "wrong"))
	dir.Stop()
	s.Token("app", secret, adForm("bob", testrig.BobPass))
	dir.Start()
	admin := httptest.NewServer(s.App.AdminHandler) // server.admin_addr: /metrics is never public
	defer admin.Close()
	status, body := scrape(t, admin.URL+"/metrics")
	if status != 200 {
		t.Fatalf("/metrics: %d", status)
	}
	for _, want := range []string{
		`lingpai_upstream_duration_seconds_count{operation="authenticate",outcome="ok",upstream="ldap"} 2`,
		`lingpai_upstream_errors_total{operation="authenticate",upstream="ldap"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestPasswordADClientLifetimes: a client's own lifetimes (an IdentityServer4 client's, kept at
// import) apply to password_ad tokens too, not only to fosite's built-in grants.
func TestPasswordADClientLifetimes(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		dir := testrig.StartSlapd(t)
		s, secret := startAD(t, backend, dir, nil)
		if err := s.Store.SaveClientSettings(context.Background(), &storage.ClientSettings{ClientID: "app",
			AccessTokenLifetime: 600, IDTokenLifetime: 900}); err != nil {
			t.Fatal(err)
		}
		r := s.Token("app", secret, adForm("alice", testrig.AlicePass))
		if r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
		if got, _ := r.Body["expires_in"].(float64); got < 599 || got > 600 {
			t.Fatalf("expires_in %v, want 600", got)
		}
		for _, tc := range []struct {
			name, token string
			want        float64
		}{{"access token", r.Str("access_token"), 600}, {"id_token", r.Str("id_token"), 900}} {
			c := jwtPart(t, tc.token, 1)
			exp, _ := c["exp"].(float64)
			iat, _ := c["iat"].(float64)
			// exp is set when the session is made and iat when the token is signed: they may
			// straddle a second boundary.
			if d := exp - iat - tc.want; d < -1 || d > 1 {
				t.Fatalf("%s lives %v s, want %v", tc.name, exp-iat, tc.want)
			}
		}
	})
}
