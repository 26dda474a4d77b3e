package is4refresh_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/hmac"
	"github.com/ory/fosite/token/jwt"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/grants"
	"github.com/lingpai/lingpai/grants/is4refresh"
	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/internal/is4import"
	"github.com/lingpai/lingpai/internal/is4import/is4test"
	"github.com/lingpai/lingpai/internal/session"
	"github.com/lingpai/lingpai/internal/throttle"
	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/storagetest"
)

// provider composes fosite as server.New does for refresh: the wrapped refresh handler, then
// the OIDC refresh handler, over the real store.
func provider(t *testing.T, st *storage.Store) fosite.OAuth2Provider {
	t.Helper()
	fc := &fosite.Config{
		AccessTokenLifespan: time.Hour, RefreshTokenLifespan: 720 * time.Hour, IDTokenLifespan: time.Hour,
		IDTokenIssuer: "https://lingpai.test", AccessTokenIssuer: "https://lingpai.test",
		GlobalSecret: []byte("0123456789abcdef0123456789abcdef"), ScopeStrategy: fosite.ExactScopeStrategy,
		AudienceMatchingStrategy: fosite.DefaultAudienceMatchingStrategy, RefreshTokenScopes: []string{"offline_access"},
		ClientSecretsHasher: hashing.Hasher{},
	}
	core := oauth2.NewHMACSHAStrategy(&hmac.HMACStrategy{Config: fc}, fc)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	idStrategy := &openid.DefaultStrategy{Signer: &jwt.DefaultSigner{GetPrivateKey: func(context.Context) (interface{}, error) { return key, nil }}, Config: fc}
	issuer := &grants.TokenIssuer{AccessTokenStrategy: core, RefreshTokenStrategy: core, Storage: st, IDTokenStrategy: idStrategy, Config: fc}
	logger := slog.New(slog.DiscardHandler)
	accts, err := accounts.New(st, hashing.Hasher{Argon2: hashing.Argon2Params{Memory: 1024, Time: 1, Threads: 1}},
		throttle.New(st, throttle.Options{MaxFailures: 100, IPMaxFailures: 100, Window: time.Minute, Lockout: time.Minute}, time.Now), logger)
	if err != nil {
		t.Fatal(err)
	}
	fc.TokenEndpointHandlers = fosite.TokenEndpointHandlers{
		is4refresh.Wrap(&oauth2.RefreshTokenGrantHandler{AccessTokenStrategy: core, RefreshTokenStrategy: core, TokenRevocationStorage: st, Config: fc},
			is4refresh.Options{Store: st, Issuer: issuer, Accounts: accts, Logger: logger}),
		&openid.OpenIDConnectRefreshHandler{IDTokenHandleHelper: &openid.IDTokenHandleHelper{IDTokenStrategy: idStrategy}, Config: fc},
	}
	return fosite.NewOAuth2Provider(st, fc)
}

// refresh posts grant_type=refresh_token with HTTP Basic client authentication.
func refresh(p fosite.OAuth2Provider, clientID, secret, token string) (int, map[string]any) {
	ctx := context.Background()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}
	r := httptest.NewRequest("POST", "/connect/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	w := httptest.NewRecorder()
	ar, err := p.NewAccessRequest(ctx, r, session.New())
	var resp fosite.AccessResponder
	if err == nil {
		resp, err = p.NewAccessResponse(ctx, ar)
	}
	if err != nil {
		p.WriteAccessError(ctx, w, ar, err)
	} else {
		p.WriteAccessResponse(ctx, w, ar, resp)
	}
	var body map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	return w.Code, body
}

// TestLegacyRefresh imports IS4 refresh tokens and presents their handles: a OneTimeOnly token
// works exactly once under a 2-way race and yields lingpai tokens (whose refresh token then works
// natively); a ReUse client's works repeatedly; other clients, consumed and expired tokens are
// refused.
func TestLegacyRefresh(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			src := is4test.New(t, b.Name)
			seed := is4test.Seed(t, src)
			st := b.Open(t, storage.Options{})
			if _, err := is4import.Run(ctx, is4import.Options{SourceDriver: src.Driver, SourceDSN: src.DSN}, st, nil); err != nil {
				t.Fatal(err)
			}
			p := provider(t, st)

			for round := 0; round < 3; round++ { // three races, each on a fresh import of one token
				handle := seed.LiveHandle
				if round > 0 {
					handle = is4test.Handle()
					src.AddRefreshToken(t, is4test.RefreshToken{Handle: handle, ClientID: "app", Subject: "a1c3f6e2-0000-4000-8000-000000000001",
						Scopes: []string{"openid", "api1.read", "offline_access"}, Created: time.Now().Add(-time.Hour), Lifetime: 2592000})
					if _, err := is4import.Run(ctx, is4import.Options{SourceDriver: src.Driver, SourceDSN: src.DSN, Only: []string{"grants"}}, st, nil); err != nil {
						t.Fatal(err)
					}
				}
				var wg sync.WaitGroup
				codes := make([]int, 2)
				bodies := make([]map[string]any, 2)
				for i := range 2 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						codes[i], bodies[i] = refresh(p, "app", seed.SecretSHA256, handle)
					}()
				}
				wg.Wait()
				win := 0
				if codes[1] == 200 {
					win = 1
				}
				lose := 1 - win
				if codes[win] != 200 || codes[lose] != 400 || bodies[lose]["error"] != "invalid_grant" {
					t.Fatalf("round %d: race gave %v %v / %v", round, codes, bodies[0], bodies[1])
				}
				got := bodies[win]
				rt, _ := got["refresh_token"].(string)
				if got["access_token"] == nil || got["id_token"] == nil || !strings.HasPrefix(rt, "ory_rt_") || got["scope"] != "openid api1.read offline_access" {
					t.Fatalf("round %d: winner got %v", round, got)
				}
				// The legacy handle is used up; lingpai's own refresh token carries on.
				if code, _ := refresh(p, "app", seed.SecretSHA512, handle); code != 400 {
					t.Fatalf("round %d: legacy handle accepted again (%d)", round, code)
				}
				if code, body := refresh(p, "app", seed.SecretSHA512, rt); code != 200 || body["id_token"] == nil {
					t.Fatalf("round %d: lingpai refresh token: %d %v", round, code, body)
				}
			}

			// ReUse: the same handle works again until it expires.
			for i := range 2 {
				if code, body := refresh(p, "reuse", "reuse-secret", seed.ReuseHandle); code != 200 {
					t.Fatalf("ReUse client, use %d: %d %v", i+1, code, body)
				}
			}
			cases := []struct{ name, client, secret, handle string }{
				{"another client's token", "app", seed.SecretSHA256, seed.ReuseHandle},
				{"consumed at IS4", "app", seed.SecretSHA256, seed.ConsumedHandle},
				{"expired", "app", seed.SecretSHA256, seed.ExpiredHandle},
				{"unknown handle", "app", seed.SecretSHA256, is4test.Handle()},
			}
			for _, c := range cases {
				if code, body := refresh(p, c.client, c.secret, c.handle); code != 400 || body["error"] != "invalid_grant" {
					t.Errorf("%s: %d %v, want 400 invalid_grant", c.name, code, body)
				}
			}
			if code, _ := refresh(p, "app", "wrong", seed.LiveHandle); code != 401 {
				t.Errorf("wrong client secret: %d, want 401", code)
			}
		})
	}
}
