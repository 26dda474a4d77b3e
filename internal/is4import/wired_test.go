package is4import_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite/token/jwt"

	"github.com/lingpai/lingpai/internal/is4import"
	"github.com/lingpai/lingpai/internal/is4import/is4test"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
)

// TestWiredServer runs against server.New with grants/is4refresh and internal/is4jwt wired in (see
// their package comments): an IS4 refresh handle exchanged exactly once under a 2-way race at the
// running /connect/token, a ReUse client's handle twice, and an IS4-signed JWT active at
// /connect/introspect. Until server.New wires them it is skipped.
func TestWiredServer(t *testing.T) {
	for _, p := range pairs()[:2] {
		t.Run(p.source, func(t *testing.T) {
			ctx := context.Background()
			s := lingpaitest.Start(t, p.target.Name, nil)
			src := is4test.New(t, p.source)
			seed := is4test.Seed(t, src)
			key, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				t.Fatal(err)
			}
			const kid = "0123456789ABCDEF0123456789ABCDEF"
			o := options(src)
			o.SigningKey, _ = (&jose.JSONWebKey{Key: key, KeyID: kid}).MarshalJSON()
			if _, err := is4import.Run(ctx, o, s.Store, nil); err != nil {
				t.Fatal(err)
			}
			refresh := func(client, secret, handle string) *lingpaitest.Response {
				return s.Token(client, secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {handle}})
			}
			if r := refresh("reuse", "reuse-secret", seed.ReuseHandle); r.Status != 200 {
				t.Fatalf("legacy refresh, first use: %d %s", r.Status, r.Raw)
			}
			if r := refresh("reuse", "reuse-secret", seed.ReuseHandle); r.Status != 200 {
				t.Fatalf("ReUse client, second use: %d %s", r.Status, r.Raw)
			}

			var wg sync.WaitGroup
			res := make([]*lingpaitest.Response, 2)
			for i := range 2 {
				wg.Add(1)
				go func() { defer wg.Done(); res[i] = refresh("app", seed.SecretSHA256, seed.LiveHandle) }()
			}
			wg.Wait()
			if res[0].Status == res[1].Status || res[0].Status+res[1].Status != 600 {
				t.Fatalf("race: %d %s / %d %s", res[0].Status, res[0].Raw, res[1].Status, res[1].Raw)
			}
			win := res[0]
			if win.Status != 200 {
				win = res[1]
			}
			if win.Str("id_token") == "" || !strings.HasPrefix(win.Str("refresh_token"), "ory_rt_") || win.Str("scope") != "openid api1.read offline_access" {
				t.Fatalf("winner: %s", win.Raw)
			}
			if claims := idTokenClaims(t, win.Str("id_token")); claims["sub"] != "a1c3f6e2-0000-4000-8000-000000000001" || claims["role"] != "admin" {
				t.Fatalf("id_token claims %v", claims)
			}
			// app's IS4 lifetimes hold for the exchange: AccessTokenLifetime 600, IdentityTokenLifetime 300.
			id := idTokenClaims(t, win.Str("id_token"))
			if e, _ := win.Body["expires_in"].(float64); e < 599 || e > 600 {
				t.Fatalf("legacy refresh: expires_in %v, want app's 600", win.Body["expires_in"])
			}
			if life := id["exp"].(float64) - id["iat"].(float64); life < 299 || life > 301 {
				t.Fatalf("legacy refresh: id_token lifetime %v, want app's IdentityTokenLifetime 300", life)
			}
			if r := refresh("app", seed.SecretSHA512, win.Str("refresh_token")); r.Status != 200 {
				t.Fatalf("lingpai's refresh token after the exchange: %d %s", r.Status, r.Raw)
			}

			signer := &jwt.DefaultSigner{GetPrivateKey: func(context.Context) (interface{}, error) {
				return &jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: "RS256"}, nil
			}}
			now := time.Now()
			tok, _, err := signer.Generate(ctx, jwt.MapClaims{"iss": s.URL, "sub": "a1c3f6e2-0000-4000-8000-000000000001", "client_id": "app",
				"scope": []string{"openid", "api1.read"}, "aud": "api1", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}, &jwt.Headers{})
			if err != nil {
				t.Fatal(err)
			}
			if in := s.Post("/connect/introspect", url.Values{"token": {tok}}, "api1", "api-secret"); in.Status != 200 || in.Body["active"] != true ||
				in.Str("sub") != "a1c3f6e2-0000-4000-8000-000000000001" || in.Str("client_id") != "app" {
				t.Fatalf("IS4-signed token at introspection: %d %s", in.Status, in.Raw)
			}
		})
	}
}
