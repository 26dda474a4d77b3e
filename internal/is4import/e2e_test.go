package is4import_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/internal/is4import"
	"github.com/lingpai/lingpai/internal/is4import/is4test"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
)

// TestEndToEnd imports into a running lingpai and signs in over HTTP the way IS4's apps did: the
// original client secrets (SHA-256 by Basic, SHA-512 in the body) and the original passwords (v2
// and v3 hashes), which become argon2id at the first right password and never at a wrong one.
func TestEndToEnd(t *testing.T) {
	for _, p := range pairs() {
		t.Run(p.source, func(t *testing.T) {
			s := lingpaitest.Start(t, p.target.Name, nil)
			src := is4test.New(t, p.source)
			seed := is4test.Seed(t, src)
			if _, err := is4import.Run(context.Background(), options(src), s.Store, nil); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			password := func(user, pw string) url.Values {
				return url.Values{"grant_type": {"password"}, "username": {user}, "password": {pw}}
			}
			hashOf := func(user string) []byte {
				u, err := s.Store.UserByUsername(ctx, user)
				if err != nil {
					t.Fatal(err)
				}
				return u.PasswordHash
			}

			// A wrong password is refused and leaves the imported hash as it was.
			if r := s.Token("app", seed.SecretSHA256, password("alice", "not my password")); r.Status != 400 || r.Str("error") != "invalid_grant" {
				t.Fatalf("wrong password: %d %s", r.Status, r.Raw)
			}
			if got := string(hashOf("alice")); got != hashing.ASPNetPrefix+is4test.HashV2 {
				t.Fatalf("a wrong password changed the hash to %q", got)
			}
			// The original secret (HTTP Basic, with +/= form-encoded) and v2 password.
			r := s.Token("app", seed.SecretSHA256, password("alice", is4test.Password))
			if r.Status != 200 || r.Str("access_token") == "" || r.Str("refresh_token") == "" || r.Str("id_token") == "" {
				t.Fatalf("alice (v2): %d %s", r.Status, r.Raw)
			}
			// IS4's per-client AccessTokenLifetime (600 s for app) holds.
			if e, _ := r.Body["expires_in"].(float64); e < 599 || e > 600 { // rounded to the second; a slow machine may land on 599
				t.Fatalf("expires_in %v, want app's 600", r.Body["expires_in"])
			}
			if claims := idTokenClaims(t, r.Str("id_token")); claims["role"] != "admin" || claims["sub"] != "a1c3f6e2-0000-4000-8000-000000000001" {
				t.Fatalf("id_token claims %v: want IS4's Id as sub and the role claim", claims)
			}
			// The API resource introspects with its IS4 name and secret, as it did at IS4.
			// Its aud is the API resource of the scopes granted, as IS4 v4 put it.
			if in := s.Post("/connect/introspect", url.Values{"token": {r.Str("access_token")}}, "api1", "api-secret"); in.Status != 200 ||
				in.Body["active"] != true || !strings.Contains(in.Raw, `"aud":["api1"]`) {
				t.Fatalf("introspection by api1: %d %s", in.Status, in.Raw)
			}
			if in := s.Post("/connect/introspect", url.Values{"token": {r.Str("access_token")}}, "api1", "wrong"); in.Status != 401 {
				t.Fatalf("introspection with a wrong secret: %d %s", in.Status, in.Raw)
			}
			if !bytes.HasPrefix(hashOf("alice"), []byte("$argon2id$")) {
				t.Fatalf("alice's hash after sign-in: %q, want argon2id", hashOf("alice"))
			}
			if r := s.Token("app", seed.SecretSHA256, password("alice", is4test.Password)); r.Status != 200 {
				t.Fatalf("alice after rehash: %d %s", r.Status, r.Raw)
			}
			// The SHA-512 secret in the body, v3 passwords (HMAC-SHA256 and HMAC-SHA512).
			for _, user := range []string{"bob", "carol"} {
				form := password(user, is4test.Password)
				form.Set("client_id", "app")
				form.Set("client_secret", seed.SecretSHA512)
				if r := s.Post("/connect/token", form, "", ""); r.Status != 200 {
					t.Fatalf("%s (v3, body auth): %d %s", user, r.Status, r.Raw)
				}
				if !bytes.HasPrefix(hashOf(user), []byte("$argon2id$")) {
					t.Fatalf("%s not rehashed", user)
				}
			}
			// Frank's imported lockout holds; the expired secret and dave (no hash) get nothing.
			if r := s.Token("app", seed.SecretSHA256, password("frank", is4test.Password)); r.Status != 400 {
				t.Fatalf("locked-out frank: %d %s", r.Status, r.Raw)
			}
			if r := s.Token("app", seed.ExpiredSecret, password("alice", is4test.Password)); r.Status != 401 {
				t.Fatalf("expired secret: %d %s", r.Status, r.Raw)
			}
			if r := s.Token("app", seed.SecretSHA256, password("dave", "")); r.Status != 400 {
				t.Fatalf("dave without a password: %d %s", r.Status, r.Raw)
			}
			// The lingpai refresh token from the IS4 client works natively.
			r = s.Token("app", seed.SecretSHA512, password("alice", is4test.Password))
			if rr := s.Token("app", seed.SecretSHA512, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.Str("refresh_token")}}); rr.Status != 200 {
				t.Fatalf("refresh: %d %s", rr.Status, rr.Raw)
			}
			if !strings.Contains(s.Logs.String(), "password.rehashed") {
				t.Fatal("no password.rehashed audit event")
			}
		})
	}
}

func idTokenClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("id_token %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}
