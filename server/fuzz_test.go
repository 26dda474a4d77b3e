package server_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
	"github.com/lingpai/lingpai/storage"
)

// The fuzz targets' fixed credentials: the seeds must be able to hold them.
const (
	fuzzSecret   = "fuzz-client-secret-0123456789abcdef"
	fuzzPassword = "alice-password-1"
	fuzzRedirect = "http://127.0.0.1:9/cb"
)

// rfc6749Codes are the error codes lingpai's JSON errors may carry (RFC 6749 5.2 and 4.1.2.1,
// RFC 6750 3.1, RFC 8628's slow_down for code requests).
var rfc6749Codes = map[string]bool{
	"invalid_request": true, "invalid_client": true, "invalid_grant": true, "unauthorized_client": true,
	"unsupported_grant_type": true, "invalid_scope": true, "access_denied": true, "server_error": true,
	"temporarily_unavailable": true, "invalid_token": true, "insufficient_scope": true, "slow_down": true,
	"unsupported_response_type": true, "not_found": true, "request_forbidden": true, "unsupported_token_type": true,
}

// fuzzServer is a lingpai with one confidential client (every standard grant, fixed secret) and
// alice, answering in-process.
func fuzzServer(f *testing.F) *lingpaitest.Server {
	s := lingpaitest.Start(f, "sqlite", nil)
	s.Client("app", []string{"client_credentials", "password", "refresh_token", "authorization_code"},
		[]string{"openid", "profile", "offline_access", "api1"}, func(c *storage.Client) {
			c.SecretHash = hashing.HashGenerated([]byte(fuzzSecret))
			c.RedirectURIs = storage.StringList{fuzzRedirect}
		})
	s.User("alice", fuzzPassword)
	return s
}

func serve(s *lingpaitest.Server, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	s.App.Handler.ServeHTTP(rec, req)
	return rec
}

// checkError asserts what every error answer must be: below 500, RFC 6749 JSON with a known code
// (never fosite's unregistered "error"), no token.
func checkError(t *testing.T, rec *httptest.ResponseRecorder, what string) map[string]any {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("%s: %d %s", what, rec.Code, rec.Body.String())
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s: %d, not JSON: %q", what, rec.Code, rec.Body.String())
	}
	if rec.Code != 200 {
		code, _ := body["error"].(string)
		if !rfc6749Codes[code] || body["access_token"] != nil {
			t.Fatalf("%s: %d with error %q: %s", what, rec.Code, code, rec.Body.String())
		}
	}
	return body
}

// FuzzTokenEndpoint posts any form body with any Authorization header to /connect/token: no 500,
// errors are RFC 6749 JSON, and a token only for a request that carried the client's secret (in
// the body or a Basic header) and, for the password grant, alice's password.
func FuzzTokenEndpoint(f *testing.F) {
	s := fuzzServer(f)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("app:"+fuzzSecret))
	f.Add("grant_type=client_credentials&scope=api1", basic)
	f.Add("grant_type=client_credentials&client_id=app&client_secret="+fuzzSecret, "")
	f.Add("grant_type=password&username=alice&password="+fuzzPassword+"&scope=openid+offline_access", basic)
	f.Add("grant_type=refresh_token&refresh_token=ory_rt_x.y", basic)
	f.Add("grant_type=authorization_code&code=ory_ac_x.y&redirect_uri="+url.QueryEscape(fuzzRedirect), basic)
	f.Add("grant_type=sms&phone=%2B8613800138000&sms=123456", basic)
	f.Add("grant_type=password_ad&username=CORP%5Calice&password=x", basic)
	f.Add("grant_type=wechat&appid=wx&code=0", basic)
	f.Add("grant_type=client_credentials&grant_type=password", "Basic Og==")
	f.Add("grant_type=client_credentials", "Basic "+base64.StdEncoding.EncodeToString([]byte("app%:"+fuzzSecret)))
	f.Add("%zz=1&grant_type=client_credentials", "Bearer x")
	f.Fuzz(func(t *testing.T, body, authorization string) {
		req := httptest.NewRequest(http.MethodPost, "/connect/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if authorization != "" {
			req.Header["Authorization"] = []string{authorization}
		}
		rec := serve(s, req)
		out := checkError(t, rec, "token")
		if out["access_token"] == nil {
			return
		}
		form, _ := url.ParseQuery(body)
		var header []byte
		if scheme, cred, ok := strings.Cut(authorization, " "); ok && strings.EqualFold(scheme, "Basic") {
			header, _ = base64.StdEncoding.DecodeString(cred) // the scheme is case-insensitive (RFC 9110 11.1)
		}
		if !strings.Contains(string(header), fuzzSecret) && form.Get("client_secret") != fuzzSecret {
			t.Fatalf("a token without the client's secret: %q %q", body, authorization)
		}
		if form.Get("grant_type") == "password" && form.Get("password") != fuzzPassword {
			t.Fatalf("a password grant token without the password: %q", body)
		}
	})
}

// FuzzAuthorize sends any query to /connect/authorize without a session: no 500, no code, and a
// redirect only to the sign-in page or (with an error) to the client's registered redirect URI.
func FuzzAuthorize(f *testing.F) {
	s := fuzzServer(f)
	ok := url.Values{"client_id": {"app"}, "response_type": {"code"}, "redirect_uri": {fuzzRedirect}, "scope": {"openid"}, "state": {"abcdefgh"}, "nonce": {"abcdefgh"}}
	f.Add(ok.Encode())
	f.Add(ok.Encode() + "&prompt=none")
	f.Add(ok.Encode() + "&response_mode=form_post&max_age=0&ui_locales=en")
	f.Add("client_id=app&response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%3A10%2Fcb")
	f.Add("client_id=app&response_type=code&redirect_uri=" + url.QueryEscape(fuzzRedirect) + "&code_challenge=x&code_challenge_method=plain")
	f.Add("client_id=nobody&response_type=token&redirect_uri=javascript:alert(1)")
	f.Add("request=eyJhbGciOiJub25lIn0.e30.&client_id=app")
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, "/connect/authorize", nil)
		req.URL.RawQuery = query
		rec := serve(s, req)
		if rec.Code >= 500 {
			t.Fatalf("%q: %d %s", query, rec.Code, rec.Body.String())
		}
		if strings.Contains(rec.Body.String(), "ory_ac_") {
			t.Fatalf("%q: a code without a session: %s", query, rec.Body.String())
		}
		loc := rec.Header().Get("Location")
		if rec.Code/100 != 3 {
			return
		}
		u, err := url.Parse(loc)
		if err != nil {
			t.Fatalf("%q: redirect to unparsable %q", query, loc)
		}
		switch {
		case strings.HasPrefix(loc, "/account/login?"):
		case strings.HasPrefix(loc, fuzzRedirect+"?") || strings.HasPrefix(loc, fuzzRedirect+"#"):
			if u.Query().Get("code") != "" || (u.Query().Get("error") == "" && !strings.Contains(u.Fragment, "error=")) {
				t.Fatalf("%q: redirect to the client without an error: %s", query, loc)
			}
		default:
			t.Fatalf("%q: redirect to %s", query, loc)
		}
	})
}

// FuzzBearerToken presents any string as an access token at /connect/userinfo and at
// introspection: only the one real token is accepted; everything else is 401 invalid_token at
// userinfo and {"active":false} at introspection, never a 500.
func FuzzBearerToken(f *testing.F) {
	s := fuzzServer(f)
	tok := s.Token("app", fuzzSecret, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {fuzzPassword}, "scope": {"openid profile"}})
	real := tok.Str("access_token")
	if real == "" {
		f.Fatalf("no token: %s", tok.Raw)
	}
	parts := strings.Split(real, ".")
	f.Add(real)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add("eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + parts[1] + ".")
	f.Add("eyJhbGciOiJIUzI1NiIsImtpZCI6IngifQ." + parts[1] + "." + parts[2])
	f.Add(parts[0] + "." + parts[1] + "." + parts[2] + "A")
	f.Add("ory_at_x.y")
	f.Add("a.b.c.d.e")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		req := httptest.NewRequest(http.MethodGet, "/connect/userinfo", nil)
		req.Header["Authorization"] = []string{"Bearer " + token}
		rec := serve(s, req)
		body := checkError(t, rec, "userinfo")
		if rec.Code == 200 && token != real {
			t.Fatalf("userinfo accepted %q: %v", token, body)
		}
		if rec.Code != 200 && body["error"] != "invalid_token" && body["error"] != "invalid_request" {
			t.Fatalf("userinfo: %d %v", rec.Code, body)
		}
		req = httptest.NewRequest(http.MethodPost, "/connect/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("app", fuzzSecret)
		rec = serve(s, req)
		body = checkError(t, rec, "introspection")
		if body["active"] == true && token != real {
			t.Fatalf("introspection: %q is active", token)
		}
	})
}
