package server_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
	"github.com/lingpai/lingpai/storage"
)

// Conformance cases found by driving lingpai with client libraries nobody here wrote (issue 14).

const rpCallback = "https://rp.example/cb"

// startConformance runs lingpai with a confidential code client "web" (redirecting to
// rpCallback), a password client "app", and the user alice.
func startConformance(t *testing.T, backend string) (s *lingpaitest.Server, webSecret, appSecret string) {
	t.Helper()
	s = lingpaitest.Start(t, backend, nil)
	webSecret = s.Client("web", []string{"authorization_code", "refresh_token"}, []string{"openid", "profile", "offline_access"}, func(c *storage.Client) {
		c.RedirectURIs = storage.StringList{rpCallback}
		c.SkipConsent = true
	})
	appSecret = s.Client("app", []string{"password", "refresh_token", "client_credentials"}, []string{"openid", "profile", "offline_access", "api1", "api2"})
	s.User("alice", "wonderland-2026")
	return s, webSecret, appSecret
}

func codeQuery(extra ...string) url.Values {
	q := url.Values{"client_id": {"web"}, "response_type": {"code"}, "redirect_uri": {rpCallback}, "scope": {"openid profile"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return q
}

// firstRedirect sends an authorize request without following anything and returns where it went.
func firstRedirect(t *testing.T, f *flow, raw string) *url.URL {
	t.Helper()
	resp, body := f.get("/connect/authorize?" + raw)
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("authorize %s: %d without a redirect: %.200s", raw, resp.StatusCode, body)
	}
	return loc
}

// Deviation 1: state is optional and echoed exactly (RFC 6749 4.1.1/4.1.2, OIDC Core 3.1.2.1).
func TestAuthorizeStateIsOptional(t *testing.T) {
	s, _, _ := startConformance(t, "sqlite")
	for _, state := range []string{"", "x", "a b+c/=&é"} {
		q := codeQuery()
		if state != "" {
			q.Set("state", state)
		}
		// Success: a code, and state exactly as sent (or absent).
		loc := newFlow(t, s).authorize(q)
		if loc.Query().Get("code") == "" || loc.Query().Get("error") != "" {
			t.Fatalf("state %q: callback %v", state, loc)
		}
		if got, has := loc.Query()["state"]; (state == "") == has || (has && got[0] != state) {
			t.Fatalf("state %q: callback state %v (present %v)", state, got, has)
		}
		// Error (prompt=none with no session): login_required, same rule for state.
		q.Set("prompt", "none")
		loc = firstRedirect(t, newFlow(t, s), q.Encode())
		if loc.Query().Get("error") != "login_required" {
			t.Fatalf("state %q, prompt=none: %v", state, loc)
		}
		if got, has := loc.Query()["state"]; (state == "") == has || (has && got[0] != state) {
			t.Fatalf("state %q: error redirect state %v (present %v)", state, got, has)
		}
	}
	// A short nonce is fine too (no specification sets a length).
	if loc := newFlow(t, s).authorize(codeQuery("nonce", "n1")); loc.Query().Get("code") == "" {
		t.Fatalf("short nonce: %v", loc)
	}
}

// Deviation 3: request objects are refused to the client, not on a page (OIDC Core 6.2, 3.1.2.6).
func TestAuthorizeRequestObjectNotSupported(t *testing.T) {
	s, _, _ := startConformance(t, "sqlite")
	for param, want := range map[string]string{"request": "request_not_supported", "request_uri": "request_uri_not_supported"} {
		q := codeQuery("state", "st-1", param, "eyJhbGciOiJub25lIn0.e30.")
		if param == "request_uri" {
			q.Set(param, "https://rp.example/request.jwt")
		}
		loc := firstRedirect(t, newFlow(t, s), q.Encode())
		if !strings.HasPrefix(loc.String(), rpCallback) || loc.Query().Get("error") != want || loc.Query().Get("state") != "st-1" {
			t.Fatalf("%s: redirected to %v, want %s at the client", param, loc, want)
		}
	}
	// With an unregistered redirect URI it is still never redirected.
	q := codeQuery("request", "x", "redirect_uri", "https://evil.example/cb")
	if resp, _ := newFlow(t, s).get("/connect/authorize?" + q.Encode()); resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
		t.Fatalf("unregistered redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	doc := s.Do(mustGet(t, s.URL+"/.well-known/openid-configuration"))
	if doc.Body["request_parameter_supported"] != false || doc.Body["request_uri_parameter_supported"] != false {
		t.Fatalf("discovery: %s", doc.Raw)
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

func rawBasic(t *testing.T, s *lingpaitest.Server, path, header string, form url.Values) *lingpaitest.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", header)
	return s.Do(req)
}

// Deviation 5: error codes.
func TestConformanceErrorCodes(t *testing.T) {
	s, _, appSecret := startConformance(t, "sqlite")
	s.Client("pub", []string{"client_credentials", "authorization_code"}, []string{"api1"}, func(c *storage.Client) { c.Public, c.SecretHash = true, nil })
	cc := url.Values{"grant_type": {"client_credentials"}}
	// A public client asking for client_credentials: unauthorized_client (RFC 6749 4.4, 5.2).
	if r := s.Post("/connect/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"pub"}}, "", ""); r.Status != 400 || r.Str("error") != "unauthorized_client" {
		t.Fatalf("public client_credentials: %d %s", r.Status, r.Raw)
	}
	// An undecodable Basic credential is failed client authentication: 401 invalid_client.
	for name, header := range map[string]string{
		"not base64":         "Basic !!!not-base64!!!",
		"no colon":           "Basic " + base64.StdEncoding.EncodeToString([]byte("app")),
		"bad percent in id":  "Basic " + base64.StdEncoding.EncodeToString([]byte("a%zz:"+appSecret)),
		"bad percent secret": "Basic " + base64.StdEncoding.EncodeToString([]byte("app:50%")),
	} {
		for _, path := range []string{"/connect/token", "/connect/introspect", "/connect/revocation"} {
			form := cc
			if path != "/connect/token" {
				form = url.Values{"token": {"x"}}
			}
			r := rawBasic(t, s, path, header, form)
			if r.Status != 401 || r.Str("error") != "invalid_client" || r.Header.Get("WWW-Authenticate") == "" {
				t.Fatalf("%s at %s: %d %s", name, path, r.Status, r.Raw)
			}
		}
	}
	// plain PKCE is refused at /connect/authorize before anyone signs in.
	for _, method := range []string{"plain", ""} {
		q := codeQuery("state", "st-2", "code_challenge_method", method)
		if method == "" {
			q.Del("code_challenge_method")
		}
		loc := firstRedirect(t, newFlow(t, s), q.Encode())
		if !strings.HasPrefix(loc.String(), rpCallback) || loc.Query().Get("error") != "invalid_request" {
			t.Fatalf("PKCE method %q: went to %v, want invalid_request at the client", method, loc)
		}
	}
}

// Deviation 6: a repeated parameter, and Basic plus client_secret in the body, are invalid_request.
func TestRepeatedParametersAndDoubleAuthentication(t *testing.T) {
	rig := startSMS(t, "sqlite", nil)
	s := rig.Server
	appSecret := s.Client("app2", []string{"password", "client_credentials"}, []string{"openid", "api1", "api2"})
	s.User("alice", "wonderland-2026")
	s.Client("web", []string{"authorization_code"}, []string{"openid", "profile"}, func(c *storage.Client) {
		c.RedirectURIs = storage.StringList{rpCallback}
		c.SkipConsent = true
	})
	tok := s.Token("app2", appSecret, url.Values{"grant_type": {"client_credentials"}}).Str("access_token")
	if tok == "" {
		t.Fatal("no token")
	}
	post := func(path, form string, basic bool, secret string) *lingpaitest.Response {
		req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basic {
			req.SetBasicAuth("app2", secret)
		}
		return s.Do(req)
	}
	for _, c := range []struct{ path, form string }{
		{"/connect/token", "grant_type=client_credentials&grant_type=client_credentials"},
		{"/connect/token", "grant_type=client_credentials&scope=api1&scope=api2"},
		{"/connect/token", "grant_type=password&username=alice&username=bob&password=wonderland-2026"},
		{"/connect/token", "grant_type=client_credentials&client_id=app2&client_id=app2"},
		{"/connect/token", "grant_type=authorization_code&code=a&code=b"},
		{"/connect/introspect", "token=" + tok + "&token=" + tok},
		{"/connect/revocation", "token=" + tok + "&token=x"},
		{"/connect/sms/code", "phone=13800138000&phone=13800138001"},
	} {
		r := post(c.path, c.form, true, appSecret)
		if c.path == "/connect/sms/code" {
			r = post(c.path, c.form+"&client_id=app&client_secret="+url.QueryEscape(rig.secret), false, "")
		}
		if r.Status != 400 || r.Str("error") != "invalid_request" {
			t.Fatalf("%s %s: %d %s", c.path, c.form, r.Status, r.Raw)
		}
	}
	if !active(t, s, "app2", appSecret, tok) {
		t.Fatal("a refused revocation revoked the token")
	}
	if len(rig.hook.Messages()) != 0 {
		t.Fatalf("a refused sms request sent %d messages", len(rig.hook.Messages()))
	}
	// Two authentication methods in one request.
	for _, path := range []string{"/connect/token", "/connect/introspect", "/connect/revocation"} {
		form := "grant_type=client_credentials&client_secret=" + url.QueryEscape(appSecret)
		if path != "/connect/token" {
			form = "token=" + tok + "&client_secret=" + url.QueryEscape(appSecret)
		}
		if r := post(path, form, true, appSecret); r.Status != 400 || r.Str("error") != "invalid_request" {
			t.Fatalf("Basic and client_secret at %s: %d %s", path, r.Status, r.Raw)
		}
	}
	// At /connect/authorize, sent to the client once the redirect URI is proven.
	raw := codeQuery("state", "st-3").Encode() + "&scope=openid"
	loc := firstRedirect(t, newFlow(t, s), raw)
	if !strings.HasPrefix(loc.String(), rpCallback) || loc.Query().Get("error") != "invalid_request" || loc.Query().Get("state") != "st-3" {
		t.Fatalf("repeated scope at authorize: %v", loc)
	}
	// A repeated client_id or redirect_uri is never redirected to: which client would it be?
	for _, p := range []string{"&client_id=web", "&redirect_uri=" + url.QueryEscape(rpCallback)} {
		resp, body := newFlow(t, s).get("/connect/authorize?" + codeQuery("state", "st-3").Encode() + p)
		if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(body, "<html") {
			t.Fatalf("repeated %s: %d %q", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// Deviation 7: RFC 8414 metadata, RFC 9207 iss, RFC 7662 iss and token_type.
func TestConformanceMetadata(t *testing.T) {
	s, webSecret, appSecret := startConformance(t, "sqlite")
	oidcDoc := s.Do(mustGet(t, s.URL+"/.well-known/openid-configuration"))
	asDoc := s.Do(mustGet(t, s.URL+"/.well-known/oauth-authorization-server"))
	if asDoc.Status != 200 || !reflect.DeepEqual(asDoc.Body, oidcDoc.Body) || asDoc.Str("issuer") != s.URL {
		t.Fatalf("RFC 8414 metadata: %d %s", asDoc.Status, asDoc.Raw)
	}
	for _, k := range []string{"claims_supported", "code_challenge_methods_supported", "introspection_endpoint_auth_methods_supported",
		"revocation_endpoint_auth_methods_supported"} {
		if l, _ := oidcDoc.Body[k].([]any); len(l) == 0 {
			t.Fatalf("discovery lacks %s: %s", k, oidcDoc.Raw)
		}
	}
	if oidcDoc.Body["authorization_response_iss_parameter_supported"] != true {
		t.Fatalf("discovery: %s", oidcDoc.Raw)
	}
	// iss in the authorization response, success and error.
	loc := newFlow(t, s).authorize(codeQuery("state", "st-4"))
	if loc.Query().Get("iss") != s.URL || loc.Query().Get("code") == "" {
		t.Fatalf("authorize success: %v", loc)
	}
	loc = firstRedirect(t, newFlow(t, s), codeQuery("prompt", "none").Encode())
	if loc.Query().Get("iss") != s.URL || loc.Query().Get("error") != "login_required" {
		t.Fatalf("authorize error: %v", loc)
	}
	_ = webSecret
	// Introspection answers carry iss and token_type.
	tok := s.Token("app", appSecret, url.Values{"grant_type": {"client_credentials"}}).Str("access_token")
	r := s.Post("/connect/introspect", url.Values{"token": {tok}}, "app", appSecret)
	if r.Body["active"] != true || r.Str("iss") != s.URL || r.Str("token_type") != "Bearer" || r.Str("client_id") != "app" {
		t.Fatalf("introspection: %s", r.Raw)
	}
}

// Deviation 4: a scope sent with a refresh narrows the new access token (RFC 6749 section 6); a
// scope not originally granted is invalid_scope; the new refresh token keeps the original scope.
func TestRefreshScopeNarrows(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		s, _, appSecret := startConformance(t, backend)
		first := s.Token("app", appSecret, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wonderland-2026"},
			"scope": {"openid offline_access api1 api2"}})
		rt := first.Str("refresh_token")
		if rt == "" {
			t.Fatalf("password grant: %s", first.Raw)
		}
		// Not originally granted (though the client may have it): invalid_scope, nothing rotated.
		for _, scope := range []string{"profile", "api1 admin"} {
			r := s.Token("app", appSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {scope}})
			if r.Status != 400 || r.Str("error") != "invalid_scope" {
				t.Fatalf("refresh with scope %q: %d %s", scope, r.Status, r.Raw)
			}
		}
		narrow := s.Token("app", appSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {"api1 offline_access"}})
		if narrow.Status != 200 || narrow.Str("scope") != "api1 offline_access" || narrow.Str("id_token") != "" {
			t.Fatalf("narrowed refresh: %d %s", narrow.Status, narrow.Raw)
		}
		if got := jwtPart(t, narrow.Str("access_token"), 1)["scope"]; got != "api1 offline_access" {
			t.Fatalf("narrowed access token scope %v", got)
		}
		in := s.Post("/connect/introspect", url.Values{"token": {narrow.Str("access_token")}}, "app", appSecret)
		if in.Str("scope") != "api1 offline_access" {
			t.Fatalf("introspection of the narrowed token: %s", in.Raw)
		}
		// The new refresh token still carries the whole original scope.
		again := s.Token("app", appSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {narrow.Str("refresh_token")}})
		if again.Status != 200 || again.Str("scope") != "openid offline_access api1 api2" || again.Str("id_token") == "" {
			t.Fatalf("refresh after a narrowed one: %d %s", again.Status, again.Raw)
		}
	})
}

// Deviation 2: an ES256 server still signs id_tokens with RS256 (OIDC Core 15.1, Discovery 3)
// unless the client registered id_token_signed_response_alg ES256; both keys are published.
func TestES256ServerSignsIDTokensWithRS256(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		s := lingpaitest.Start(t, backend, func(c *config.Config) { c.Tokens.SigningAlgorithm = "ES256" })
		plain := s.Client("app", []string{"password"}, []string{"openid", "api1"})
		es := s.Client("app-es", []string{"password"}, []string{"openid", "api1"}, func(c *storage.Client) { c.IDTokenSignedResponseAlg = "ES256" })
		s.User("alice", "wonderland-2026")
		doc := s.Do(mustGet(t, s.URL+"/.well-known/openid-configuration"))
		if got := doc.Body["id_token_signing_alg_values_supported"]; !reflect.DeepEqual(got, []any{"RS256", "ES256"}) {
			t.Fatalf("id_token_signing_alg_values_supported = %v", got)
		}
		ctx := context.Background()
		provider, err := oidc.NewProvider(ctx, s.URL)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ id, secret, idAlg string }{{"app", plain, "RS256"}, {"app-es", es, "ES256"}} {
			r := s.Token(c.id, c.secret, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wonderland-2026"}})
			idt, at := r.Str("id_token"), r.Str("access_token")
			if h := jwtPart(t, idt, 0); h["alg"] != c.idAlg {
				t.Fatalf("%s: id_token alg %v, want %s", c.id, h["alg"], c.idAlg)
			}
			if h := jwtPart(t, at, 0); h["alg"] != "ES256" {
				t.Fatalf("%s: access token alg %v, want ES256", c.id, h["alg"])
			}
			// Both verify against the published JWKS (go-oidc fetches it).
			v := provider.Verifier(&oidc.Config{ClientID: c.id, SupportedSigningAlgs: []string{c.idAlg}})
			if _, err := v.Verify(ctx, idt); err != nil {
				t.Fatalf("%s: id_token does not verify: %v", c.id, err)
			}
			if !active(t, s, c.id, c.secret, at) {
				t.Fatalf("%s: ES256 access token inactive", c.id)
			}
		}
		// An unknown algorithm is refused when the client is registered.
		err = s.Store.CreateClient(ctx, &storage.Client{ID: "bad-alg", Name: "x", GrantTypes: storage.StringList{"password"}, IDTokenSignedResponseAlg: "none"})
		if err == nil || !strings.Contains(err.Error(), "id_token_signed_response_alg") {
			t.Fatalf("id_token_signed_response_alg none accepted: %v", err)
		}
	})
}
