package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/keys"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
	"github.com/lingpai/lingpai/storage"
)

var backends = []string{"sqlite", "mysql"}

func each(t *testing.T, fn func(t *testing.T, backend string)) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) { fn(t, b) })
	}
}

func jwtPart(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestClientCredentialsWithOAuth2Library(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		s := lingpaitest.Start(t, backend, nil)
		secret := s.Client("svc", []string{"client_credentials"}, []string{"api1", "api2", "openid", "offline_access"})
		cc := clientcredentials.Config{ClientID: "svc", ClientSecret: secret, TokenURL: s.URL + "/connect/token", AuthStyle: oauth2.AuthStyleInHeader}
		tok, err := cc.Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if tok.TokenType != "Bearer" || tok.RefreshToken != "" || tok.Expiry.IsZero() {
			t.Fatalf("token %+v: want Bearer, no refresh token, an expiry", tok)
		}
		if got := tok.Extra("scope"); got != "api1 api2" {
			t.Fatalf("omitted scope granted %q, want the client's API scopes", got)
		}
		head, claims := jwtPart(t, tok.AccessToken, 0), jwtPart(t, tok.AccessToken, 1)
		if head["typ"] != "at+jwt" || head["alg"] != "RS256" || head["kid"] == "" {
			t.Fatalf("header %v", head)
		}
		for k, want := range map[string]any{"iss": s.URL, "sub": "svc", "client_id": "svc", "scope": "api1 api2"} {
			if claims[k] != want {
				t.Fatalf("claim %s = %v, want %v (claims %v)", k, claims[k], want, claims)
			}
		}
		for _, k := range []string{"exp", "iat", "jti", "aud"} {
			if claims[k] == nil {
				t.Fatalf("claim %s missing: %v", k, claims)
			}
		}
		// The kid is published and verifies the token (go-oidc's remote key set).
		ks := oidc.NewRemoteKeySet(context.Background(), s.URL+"/.well-known/openid-configuration/jwks")
		if _, err := ks.VerifySignature(context.Background(), tok.AccessToken); err != nil {
			t.Fatalf("access token does not verify against the JWKS: %v", err)
		}
		// An explicit scope narrows; the secret in the body works too.
		r := s.Post("/connect/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"api2"}, "client_id": {"svc"}, "client_secret": {secret}}, "", "")
		if ei, _ := r.Body["expires_in"].(float64); ei != 3600 {
			t.Fatalf("expires_in = %v, want 3600 as in the seed", r.Body["expires_in"])
		}
		if r.Status != 200 || r.Str("scope") != "api2" || r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Pragma") != "no-cache" {
			t.Fatalf("post auth: %d %s %v", r.Status, r.Raw, r.Header)
		}
	})
}

func TestPasswordGrantWithOIDC(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		s := lingpaitest.Start(t, backend, nil)
		secret := s.Client("app", []string{"password", "refresh_token"}, []string{"openid", "profile", "offline_access", "api1"})
		u := s.User("Alice", "wonderland-2026")
		ctx := context.Background()
		provider, err := oidc.NewProvider(ctx, s.URL)
		if err != nil {
			t.Fatal(err)
		}
		conf := &oauth2.Config{ClientID: "app", ClientSecret: secret, Endpoint: provider.Endpoint()}
		tok, err := conf.PasswordCredentialsToken(ctx, "alice", "wonderland-2026")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := provider.Verifier(&oidc.Config{ClientID: "app"}).Verify(ctx, raw)
		if err != nil {
			t.Fatalf("id_token: %v", err)
		}
		var claims struct {
			Name string   `json:"name"`
			User string   `json:"preferred_username"`
			AMR  []string `json:"amr"`
		}
		_ = idt.Claims(&claims)
		if idt.Subject != u.ID || claims.User != "alice" || len(claims.AMR) != 1 || claims.AMR[0] != "pwd" {
			t.Fatalf("id_token sub=%s claims=%+v", idt.Subject, claims)
		}
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			t.Fatalf("at_hash: %v", err)
		}
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token despite offline_access")
		}
		// Refresh through the library: a new access and refresh token.
		expired := *tok
		expired.Expiry = expired.Expiry.Add(-2 * 3600e9)
		next, err := conf.TokenSource(ctx, &expired).Token()
		if err != nil {
			t.Fatal(err)
		}
		if next.AccessToken == tok.AccessToken || next.RefreshToken == tok.RefreshToken || next.RefreshToken == "" {
			t.Fatal("refresh did not rotate")
		}
		// Without openid/offline_access in scope: neither id_token nor refresh token.
		r := s.Token("app", secret, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wonderland-2026"}, "scope": {"api1"}})
		if r.Status != 200 || r.Body["id_token"] != nil || r.Body["refresh_token"] != nil {
			t.Fatalf("narrow scope: %d %s", r.Status, r.Raw)
		}
	})
}

func TestTokenEndpointErrors(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		s := lingpaitest.Start(t, backend, nil)
		secret := s.Client("app", []string{"password", "client_credentials"}, []string{"api1", "openid"})
		pub := s.Client("pub", []string{"password"}, []string{"api1"}, func(c *storage.Client) { c.Public, c.SecretHash = true, nil })
		_ = pub
		s.User("bob", "correct-horse")
		pw := func(user, pass string) url.Values {
			return url.Values{"grant_type": {"password"}, "username": {user}, "password": {pass}}
		}
		tests := []struct {
			name       string
			form       url.Values
			user, pass string
			status     int
			code       string
		}{
			{"unknown grant type", url.Values{"grant_type": {"urn:foo"}}, "app", secret, 400, "unsupported_grant_type"},
			{"grant type not enabled", url.Values{"grant_type": {"sms"}}, "app", secret, 400, "unsupported_grant_type"},
			{"missing grant type", url.Values{}, "app", secret, 400, "invalid_request"},
			{"no client authentication", url.Values{"grant_type": {"client_credentials"}}, "", "", 401, "invalid_client"},
			{"wrong secret (basic)", url.Values{"grant_type": {"client_credentials"}}, "app", "nope", 401, "invalid_client"},
			{"wrong secret (body)", url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {"nope"}}, "", "", 401, "invalid_client"},
			{"unknown client", url.Values{"grant_type": {"client_credentials"}}, "ghost", "x", 401, "invalid_client"},
			{"scope not allowed", url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}}, "app", secret, 400, "invalid_scope"},
			{"grant not allowed for client", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, "app", secret, 400, "unauthorized_client"},
			{"wrong password", pw("bob", "wrong"), "app", secret, 400, "invalid_grant"},
			{"unknown user", pw("nobody", "wrong"), "app", secret, 400, "invalid_grant"},
			{"missing password", url.Values{"grant_type": {"password"}, "username": {"bob"}}, "app", secret, 400, "invalid_request"},
			{"public client cannot use client_credentials", url.Values{"grant_type": {"client_credentials"}, "client_id": {"pub"}}, "", "", 400, "unauthorized_client"}, // RFC 6749 4.4: only confidential clients,
			{"bogus refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"ory_rt_x.y"}}, "app", secret, 400, "unauthorized_client"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := s.Post("/connect/token", tt.form, tt.user, tt.pass)
				if r.Status != tt.status || r.Str("error") != tt.code {
					t.Fatalf("got %d %s, want %d %s", r.Status, r.Raw, tt.status, tt.code)
				}
				if r.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
					t.Fatalf("headers %v", r.Header)
				}
				if tt.status == 401 && r.Header.Get("WWW-Authenticate") == "" {
					t.Fatal("401 without WWW-Authenticate")
				}
			})
		}
		// No user enumeration: unknown user and wrong password answer byte-for-byte alike.
		a := s.Token("app", secret, pw("bob", "wrong"))
		b := s.Token("app", secret, pw("nobody", "wrong"))
		if a.Raw != b.Raw || a.Status != b.Status {
			t.Fatalf("answers differ:\n%s\n%s", a.Raw, b.Raw)
		}
		// Malformed input never yields a 500.
		for name, req := range map[string]*http.Request{
			"huge body":    mustReq(t, http.MethodPost, s.URL+"/connect/token", strings.Repeat("a=b&", 100000), "application/x-www-form-urlencoded"),
			"GET":          mustReq(t, http.MethodGet, s.URL+"/connect/token", "", ""),
			"json body":    mustReq(t, http.MethodPost, s.URL+"/connect/token", `{"grant_type":"password"}`, "application/json"),
			"bad encoding": mustReq(t, http.MethodPost, s.URL+"/connect/token", "grant_type=%zz", "application/x-www-form-urlencoded"),
			"bad basic":    withHeader(mustReq(t, http.MethodPost, s.URL+"/connect/token", "grant_type=client_credentials", "application/x-www-form-urlencoded"), "Authorization", "Basic !!!"),
		} {
			r := s.Do(req)
			if r.Status < 400 || r.Status >= 500 || r.Str("error") == "" {
				t.Errorf("%s: %d %s", name, r.Status, r.Raw)
			}
		}
		// Nothing secret reaches the log.
		logs := s.Logs.String()
		for _, secretish := range []string{secret, "correct-horse", "wrong"} {
			if strings.Contains(logs, `"`+secretish+`"`) || strings.Contains(logs, "="+secretish) {
				t.Fatalf("log contains %q", secretish)
			}
		}
	})
}

func mustReq(t *testing.T, method, u, body, ctype string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return req
}

func withHeader(r *http.Request, k, v string) *http.Request { r.Header.Set(k, v); return r }

func TestRefreshReuseRevokesFamily(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		s := lingpaitest.Start(t, backend, nil)
		secret := s.Client("app", []string{"password", "refresh_token"}, []string{"openid", "offline_access"})
		s.User("carol", "carol-password")
		first := s.Token("app", secret, url.Values{"grant_type": {"password"}, "username": {"carol"}, "password": {"carol-password"}})
		rt1 := first.Str("refresh_token")
		second := s.Token("app", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}})
		if second.Status != 200 || second.Str("id_token") == "" {
			t.Fatalf("refresh: %d %s", second.Status, second.Raw)
		}
		rt2, at2 := second.Str("refresh_token"), second.Str("access_token")
		if active(t, s, "app", secret, first.Str("access_token")) {
			t.Fatal("access token of the rotated refresh token is still active")
		}
		reuse := s.Token("app", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}})
		if reuse.Status != 400 || reuse.Str("error") != "invalid_grant" {
			t.Fatalf("reuse: %d %s", reuse.Status, reuse.Raw)
		}
		if r := s.Token("app", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}}); r.Status != 400 || r.Str("error") != "invalid_grant" {
			t.Fatalf("descendant refresh token survived reuse: %d %s", r.Status, r.Raw)
		}
		if active(t, s, "app", secret, at2) {
			t.Fatal("descendant access token survived reuse")
		}
		if !strings.Contains(s.Logs.String(), `"event":"token.reuse_detected"`) || !strings.Contains(s.Logs.String(), `"client_id":"app"`) {
			t.Fatalf("no token.reuse_detected audit event for a replayed refresh token:\n%s", s.Logs.String())
		}
	})
}

func active(t *testing.T, s *lingpaitest.Server, id, secret, token string) bool {
	t.Helper()
	r := s.Post("/connect/introspect", url.Values{"token": {token}}, id, secret)
	if r.Status != 200 {
		t.Fatalf("introspect: %d %s", r.Status, r.Raw)
	}
	return r.Body["active"] == true
}

func TestConcurrentRefreshOneWinnerFamilyRevoked(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		s := lingpaitest.Start(t, backend, nil)
		secret := s.Client("app", []string{"password", "refresh_token"}, []string{"offline_access"})
		s.User("dave", "dave-password")
		first := s.Token("app", secret, url.Values{"grant_type": {"password"}, "username": {"dave"}, "password": {"dave-password"}})
		rt := first.Str("refresh_token")
		const n = 10
		var wg sync.WaitGroup
		results := make([]*lingpaitest.Response, n)
		start := make(chan struct{})
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				results[i] = s.Token("app", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
			}(i)
		}
		close(start)
		wg.Wait()
		var winner *lingpaitest.Response
		for _, r := range results {
			switch {
			case r.Status == 200:
				if winner != nil {
					t.Fatal("two concurrent refreshes of one token both succeeded")
				}
				winner = r
			case r.Status == 400 && (r.Str("error") == "invalid_grant" || r.Str("error") == "invalid_request"):
			case r.Status == 503 && r.Str("error") == "temporarily_unavailable":
				// A loser whose lock race surfaced before it touched the token (a deadlock on its
				// first read) is told to retry; its retry is then reuse.
			default:
				t.Fatalf("unexpected answer %d %s", r.Status, r.Raw)
			}
		}
		if winner == nil {
			t.Fatal("no refresh succeeded")
		}
		// The losers presented a used token: the family, winner's tokens included, is revoked.
		if r := s.Token("app", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {winner.Str("refresh_token")}}); r.Status != 400 {
			t.Fatalf("winner's refresh token survived the reuse: %d %s", r.Status, r.Raw)
		}
		if active(t, s, "app", secret, winner.Str("access_token")) {
			t.Fatal("winner's access token survived the reuse")
		}
	})
}

func TestThrottlingLocksAccountAndIsIndistinguishable(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		s := lingpaitest.Start(t, backend, func(c *config.Config) { c.Throttle.MaxFailures = 3 })
		secret := s.Client("app", []string{"password"}, []string{"api1"})
		s.User("erin", "erin-password")
		form := func(u, p string) url.Values {
			return url.Values{"grant_type": {"password"}, "username": {u}, "password": {p}}
		}
		for i := 0; i < 3; i++ {
			s.Token("app", secret, form("erin", "bad"))
			s.Token("app", secret, form("ghost", "bad"))
		}
		locked := s.Token("app", secret, form("erin", "erin-password"))
		ghost := s.Token("app", secret, form("ghost", "bad"))
		if locked.Status != 400 || locked.Str("error") != "invalid_grant" {
			t.Fatalf("right password during lockout: %d %s", locked.Status, locked.Raw)
		}
		if locked.Raw != ghost.Raw {
			t.Fatalf("locked account distinguishable from unknown user:\n%s\n%s", locked.Raw, ghost.Raw)
		}
		if !strings.Contains(s.Logs.String(), `"reason":"throttled"`) {
			t.Fatal("throttling not logged")
		}
		// Another account from the same client IP is not locked (IP limit is 50).
		s.User("frank", "frank-password")
		if r := s.Token("app", secret, form("frank", "frank-password")); r.Status != 200 {
			t.Fatalf("other account: %d %s", r.Status, r.Raw)
		}
	})
}

func TestRevocationEndsAccessTokens(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		s := lingpaitest.Start(t, backend, nil)
		secret := s.Client("app", []string{"password", "refresh_token"}, []string{"offline_access", "api1"})
		other := s.Client("other", []string{"client_credentials"}, []string{"api1"})
		s.User("gina", "gina-password")
		tok := s.Token("app", secret, url.Values{"grant_type": {"password"}, "username": {"gina"}, "password": {"gina-password"}})
		at, rt := tok.Str("access_token"), tok.Str("refresh_token")
		introspected := s.Post("/connect/introspect", url.Values{"token": {at}}, "app", secret)
		if introspected.Body["active"] != true || introspected.Str("client_id") != "app" || introspected.Str("scope") != "offline_access api1" {
			t.Fatalf("introspection: %s", introspected.Raw)
		}
		// Another client's revocation is a silent no-op (RFC 7009).
		if r := s.Post("/connect/revocation", url.Values{"token": {rt}}, "other", other); r.Status != 200 || !active(t, s, "app", secret, at) {
			t.Fatalf("foreign revocation had an effect: %d", r.Status)
		}
		if r := s.Post("/connect/revocation", url.Values{"token": {rt}, "token_type_hint": {"refresh_token"}}, "app", secret); r.Status != 200 {
			t.Fatalf("revoke: %d %s", r.Status, r.Raw)
		}
		if active(t, s, "app", secret, at) || active(t, s, "app", secret, rt) {
			t.Fatal("tokens still active after revoking the refresh token")
		}
		if r := s.Post("/connect/revocation", url.Values{"token": {rt}}, "app", "wrong"); r.Status != 401 {
			t.Fatalf("revocation with a wrong secret: %d", r.Status)
		}
	})
}

// TestIntrospectionAndRevocationNeedClientCredentials: RFC 7662 and 7009 endpoints answer only an
// authenticated client (Basic or body), never a bearer of some access token.
func TestIntrospectionAndRevocationNeedClientCredentials(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		s := lingpaitest.Start(t, backend, nil)
		secret := s.Client("app", []string{"password"}, []string{"api1", "profile"})
		// svc is a resource server: the introspection policy lets it see app's access tokens.
		other := s.Client("svc", []string{"client_credentials"}, []string{"api1"}, func(c *storage.Client) { c.CanIntrospect = true })
		s.User("hana", "hana-password")
		at := s.Token("app", secret, url.Values{"grant_type": {"password"}, "username": {"hana"}, "password": {"hana-password"}}).Str("access_token")
		svcToken := s.Token("svc", other, url.Values{"grant_type": {"client_credentials"}}).Str("access_token")
		bearer := func(path string, form url.Values, token string) *lingpaitest.Response {
			req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			return s.Do(req)
		}
		cases := []struct {
			name       string
			resp       *lingpaitest.Response
			status     int
			error      string
			wantActive bool
		}{
			{"introspect with another client's bearer token", bearer("/connect/introspect", url.Values{"token": {at}}, svcToken), 401, "invalid_client", false},
			{"introspect with no credentials", bearer("/connect/introspect", url.Values{"token": {at}}, ""), 401, "invalid_client", false},
			{"introspect with a wrong secret", s.Post("/connect/introspect", url.Values{"token": {at}}, "app", "wrong"), 401, "invalid_client", false},
			{"introspect with credentials in the body", s.Post("/connect/introspect", url.Values{"token": {at}, "client_id": {"app"}, "client_secret": {secret}}, "", ""), 200, "", true},
			{"introspect with Basic", s.Post("/connect/introspect", url.Values{"token": {at}}, "svc", other), 200, "", true},
			{"revoke with no credentials", bearer("/connect/revocation", url.Values{"token": {at}}, ""), 401, "invalid_client", false},
			{"revoke with a bearer token", bearer("/connect/revocation", url.Values{"token": {at}}, svcToken), 401, "invalid_client", false},
		}
		for _, c := range cases {
			if c.resp.Status != c.status || c.resp.Str("error") != c.error || (c.status == 200 && (c.resp.Body["active"] == true) != c.wantActive) {
				t.Errorf("%s: %d %s", c.name, c.resp.Status, c.resp.Raw)
			}
			if c.status == 401 && strings.Contains(c.resp.Raw, "hana") {
				t.Errorf("%s: refused answer carries claims: %s", c.name, c.resp.Raw)
			}
		}
		if !active(t, s, "app", secret, at) {
			t.Fatal("a refused revocation revoked the token")
		}
	})
}

func TestRestartAndKeyRotationKeepTokens(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		s := lingpaitest.Start(t, backend, nil)
		secret := s.Client("app", []string{"password", "refresh_token", "client_credentials"}, []string{"offline_access", "api1"})
		s.User("hank", "hank-password")
		tok := s.Token("app", secret, url.Values{"grant_type": {"password"}, "username": {"hank"}, "password": {"hank-password"}})
		kid := jwtPart(t, tok.Str("access_token"), 0)["kid"]
		s.Restart()
		if !active(t, s, "app", secret, tok.Str("access_token")) {
			t.Fatal("access token inactive after restart")
		}
		if k := jwtPart(t, s.Token("app", secret, url.Values{"grant_type": {"client_credentials"}}).Str("access_token"), 0)["kid"]; k != kid {
			t.Fatalf("restart changed the signing key: %v -> %v", kid, k)
		}
		// Rotate (as "lingpai keys rotate" does, server running) and restart: old tokens still verify.
		if _, err := keys.Rotate(context.Background(), s.Store, "RS256"); err != nil {
			t.Fatal(err)
		}
		s.Restart()
		if !active(t, s, "app", secret, tok.Str("access_token")) {
			t.Fatal("token signed by the retired key turned inactive")
		}
		fresh := s.Token("app", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.Str("refresh_token")}})
		if fresh.Status != 200 || jwtPart(t, fresh.Str("access_token"), 0)["kid"] == kid {
			t.Fatalf("refresh after rotation: %d, kid %v", fresh.Status, jwtPart(t, fresh.Str("access_token"), 0)["kid"])
		}
		jwks := s.Do(mustReq(t, http.MethodGet, s.URL+"/.well-known/openid-configuration/jwks", "", ""))
		if keysList, _ := jwks.Body["keys"].([]any); len(keysList) != 2 {
			t.Fatalf("JWKS after rotation: %s", jwks.Raw)
		}
	})
}

func TestDiscoveryListsEnabledGrants(t *testing.T) {
	s := lingpaitest.Start(t, "sqlite", func(c *config.Config) { c.Grants.Enabled = []string{"client_credentials", "refresh_token"} })
	r := s.Do(mustReq(t, http.MethodGet, s.URL+"/.well-known/openid-configuration", "", ""))
	got, _ := json.Marshal(r.Body["grant_types_supported"])
	if string(got) != `["client_credentials","refresh_token"]` || r.Str("issuer") != s.URL || r.Str("token_endpoint") != s.URL+"/connect/token" {
		t.Fatalf("discovery: %s", r.Raw)
	}
	secret := s.Client("app", []string{"password"}, []string{"api1"})
	if r := s.Token("app", secret, url.Values{"grant_type": {"password"}}); r.Str("error") != "unsupported_grant_type" {
		t.Fatalf("disabled grant: %s", r.Raw)
	}
	if h := s.Do(mustReq(t, http.MethodGet, s.URL+"/healthz", "", "")); h.Status != 200 {
		t.Fatal("healthz")
	}
	if h := s.Do(mustReq(t, http.MethodGet, s.URL+"/readyz", "", "")); h.Status != 200 {
		t.Fatalf("readyz %s", h.Raw)
	}
}

func TestOpaqueTokensAndES256(t *testing.T) {
	s := lingpaitest.Start(t, "sqlite", func(c *config.Config) { c.Tokens.Format = "opaque"; c.Tokens.SigningAlgorithm = "ES256" })
	secret := s.Client("app", []string{"client_credentials", "password"}, []string{"api1", "openid"})
	s.User("ivy", "ivy-password")
	r := s.Token("app", secret, url.Values{"grant_type": {"client_credentials"}})
	if strings.Count(r.Str("access_token"), ".") == 2 && strings.HasPrefix(r.Str("access_token"), "ey") {
		t.Fatalf("opaque format issued a JWT: %s", r.Str("access_token"))
	}
	if !active(t, s, "app", secret, r.Str("access_token")) {
		t.Fatal("opaque token not active")
	}
	pw := s.Token("app", secret, url.Values{"grant_type": {"password"}, "username": {"ivy"}, "password": {"ivy-password"}})
	if h := jwtPart(t, pw.Str("id_token"), 0); h["alg"] != "RS256" { // OIDC Core 15.1: RS256 unless the client asks
		t.Fatalf("id_token alg %v", h["alg"])
	}
	var oe *oauth2.RetrieveError
	_, err := (&clientcredentials.Config{ClientID: "app", ClientSecret: "bad", TokenURL: s.URL + "/connect/token"}).Token(context.Background())
	if !errors.As(err, &oe) || oe.ErrorCode != "invalid_client" {
		t.Fatalf("x/oauth2 sees %v", err)
	}
}
