package is4jwt_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/hmac"
	"github.com/ory/fosite/token/jwt"

	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/internal/is4import"
	"github.com/lingpai/lingpai/internal/is4import/is4test"
	"github.com/lingpai/lingpai/internal/is4jwt"
	"github.com/lingpai/lingpai/internal/keys"
	"github.com/lingpai/lingpai/internal/session"
	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/storagetest"
)

// TestIntrospectIS4Tokens: after the IS4 signing key is imported, lingpai's introspection answers
// active for an unexpired token IS4 signed with it (sub, client_id, scope from its claims), and
// inactive for an expired one, one signed by lingpai's own key without a row, and — once lingpai
// signs with the imported key — one signed after that.
func TestIntrospectIS4Tokens(t *testing.T) {
	ctx := context.Background()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const kid = "0123456789ABCDEF0123456789ABCDEF"
	jwkJSON, _ := (&jose.JSONWebKey{Key: key, KeyID: kid}).MarshalJSON()
	src := is4test.New(t, "sqlite")
	seed := is4test.Seed(t, src)
	st := storagetest.OpenSQLite(t, storage.Options{})
	kr, err := keys.New(ctx, st, keys.Options{Algorithm: "RS256", Overlap: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	run := func(active bool) {
		wx, _ := is4import.ParseWeChatProviders("")
		o := is4import.Options{SourceDriver: "sqlite", SourceDSN: src.DSN, WeChatProviders: wx, SigningKey: jwkJSON, SigningKeyActive: active}
		if _, err := is4import.Run(ctx, o, st, nil); err != nil {
			t.Fatal(err)
		}
		_ = kr.Refresh(ctx)
	}
	run(false)

	fc := &fosite.Config{GlobalSecret: []byte("0123456789abcdef0123456789abcdef"), ClientSecretsHasher: hashing.Hasher{},
		ScopeStrategy: fosite.ExactScopeStrategy, AccessTokenLifespan: time.Hour}
	core := &oauth2.DefaultJWTStrategy{Signer: kr.Signer(), HMACSHAStrategy: oauth2.NewHMACSHAStrategy(&hmac.HMACStrategy{Config: fc}, fc), Config: fc}
	fc.TokenIntrospectionHandlers = fosite.TokenIntrospectionHandlers{
		is4jwt.Wrap(&oauth2.CoreValidator{CoreStrategy: core, CoreStorage: st, Config: fc}, is4jwt.Options{Signer: kr.Signer(), Store: st}),
	}
	p := fosite.NewOAuth2Provider(st, fc)
	introspect := func(tok string) (bool, fosite.AccessRequester) {
		r := httptest.NewRequest("POST", "/connect/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth("app", url.QueryEscape(seed.SecretSHA256))
		ir, err := p.NewIntrospectionRequest(ctx, r, session.New())
		if err != nil {
			return false, nil
		}
		return ir.IsActive(), ir.GetAccessRequester()
	}
	sign := func(k any, kid string, iat, exp time.Time) string {
		s := &jwt.DefaultSigner{GetPrivateKey: func(context.Context) (interface{}, error) {
			return &jose.JSONWebKey{Key: k, KeyID: kid, Algorithm: "RS256"}, nil
		}}
		tok, _, err := s.Generate(ctx, jwt.MapClaims{"iss": "https://is4.example", "sub": "alice-id", "client_id": "app",
			"scope": []string{"openid", "api1.read"}, "aud": "api1", "iat": iat.Unix(), "exp": exp.Unix()}, &jwt.Headers{})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	now := time.Now()
	active, ar := introspect(sign(key, kid, now.Add(-time.Minute), now.Add(time.Hour)))
	if !active || ar.GetSession().GetSubject() != "alice-id" || ar.GetClient().GetID() != "app" ||
		strings.Join(ar.GetGrantedScopes(), " ") != "openid api1.read" || ar.GetGrantedAudience()[0] != "api1" {
		t.Fatalf("IS4 token: active=%v %+v", active, ar)
	}
	if active, _ := introspect(sign(key, kid, now.Add(-2*time.Hour), now.Add(-time.Hour))); active {
		t.Fatal("an expired IS4 token is active")
	}
	own, _ := kr.Active(ctx)
	if active, _ := introspect(sign(own.Key, own.KeyID, now, now.Add(time.Hour))); active {
		t.Fatal("a token of lingpai's own key without a stored row is active")
	}
	run(true) // lingpai now signs with the IS4 key: only what IS4 signed before counts
	if active, _ := introspect(sign(key, kid, now.Add(time.Minute), now.Add(time.Hour))); active {
		t.Fatal("a token signed after the key became lingpai's, without a row, is active")
	}
	if active, _ := introspect(sign(key, kid, now.Add(-time.Minute), now.Add(time.Hour))); !active {
		t.Fatal("a token IS4 signed before the switch stopped being active")
	}
}
