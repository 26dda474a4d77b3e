package keys

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"
	"github.com/ory/fosite/token/jwt"

	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/storagetest"
)

// signWith signs claims with key under alg and kid, as anyone holding key could.
func signWith(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any, extra map[jose.HeaderKey]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", kid)
	for k, v := range extra {
		opts.WithHeader(k, v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := josejwt.Signed(s).Claims(claims).CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestVerifyJWT: VerifyJWT accepts what the keyring signed, with the claims fosite's Decode
// returns, and refuses what Decode refuses; besides, a token must name its key's own alg.
func TestVerifyJWT(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			ctx := context.Background()
			st := storagetest.OpenSQLite(t, storage.Options{})
			kr, err := New(ctx, st, Options{Algorithm: alg, Overlap: time.Hour, CacheTTL: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			active, _ := kr.Active(ctx)
			now := time.Now()
			claims := func(extra map[string]any) map[string]any {
				c := map[string]any{"sub": "alice", "scope": "api", "aud": []string{"https://api"}, "iat": now.Unix(),
					"exp": now.Add(time.Hour).Unix(), "n": 1.5, "big": int64(1) << 60}
				for k, v := range extra {
					c[k] = v
				}
				return c
			}
			good, _, err := kr.Signer().Generate(ctx, claims(nil), &jwt.Headers{Extra: map[string]any{"typ": "at+jwt"}})
			if err != nil {
				t.Fatal(err)
			}
			got, err := kr.VerifyJWT(ctx, good)
			if err != nil {
				t.Fatalf("a token the keyring signed: %v", err)
			}
			decoded, err := kr.Signer().Decode(ctx, good)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, decoded.Claims) {
				t.Fatalf("claims %#v, fosite's Decode has %#v", got, decoded.Claims)
			}

			parts := strings.Split(good, ".")
			forged := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"mallory","exp":` + "9999999999" + `}`))
			other, _ := rsa.GenerateKey(rand.Reader, 2048)
			otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			var wrongAlg string // the right key, another alg of its family
			var otherKey any = other
			if alg == "RS256" {
				wrongAlg = signWith(t, jose.RS512, active.Key, active.KeyID, claims(nil), nil)
			} else {
				wrongAlg = signWith(t, jose.ES256, active.Key, active.KeyID, claims(nil), map[jose.HeaderKey]any{"alg": "ES384"})
				otherKey = otherEC
			}
			hs := signWith(t, jose.HS256, []byte("0123456789abcdef0123456789abcdef"), active.KeyID, claims(nil), nil)
			none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"`+active.KeyID+`"}`)) + "." + parts[1] + "."
			refused := map[string]struct {
				token string
				flag  uint32
			}{
				"claims changed":         {parts[0] + "." + forged + "." + parts[2], jwt.ValidationErrorSignatureInvalid},
				"signature changed":      {parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-4] + "AAAA", jwt.ValidationErrorSignatureInvalid},
				"signature cut":          {parts[0] + "." + parts[1] + ".AAAA", jwt.ValidationErrorSignatureInvalid},
				"another key, same kid":  {signWith(t, jose.SignatureAlgorithm(alg), otherKey, active.KeyID, claims(nil), nil), jwt.ValidationErrorSignatureInvalid},
				"another alg of the key": {wrongAlg, jwt.ValidationErrorSignatureInvalid},
				"HS256 (alg confusion)":  {hs, jwt.ValidationErrorSignatureInvalid},
				"alg none":               {none, jwt.ValidationErrorSignatureInvalid},
				"unknown kid":            {signWith(t, jose.SignatureAlgorithm(alg), otherKey, "nope", claims(nil), nil), jwt.ValidationErrorUnverifiable},
				"crit header":            {signWith(t, jose.SignatureAlgorithm(alg), active.Key, active.KeyID, claims(nil), map[jose.HeaderKey]any{"crit": []string{"x"}, "x": 1}), jwt.ValidationErrorUnverifiable},
				"expired":                {signWith(t, jose.SignatureAlgorithm(alg), active.Key, active.KeyID, claims(map[string]any{"exp": now.Add(-time.Minute).Unix()}), nil), jwt.ValidationErrorExpired},
				"not yet valid":          {signWith(t, jose.SignatureAlgorithm(alg), active.Key, active.KeyID, claims(map[string]any{"nbf": now.Add(time.Hour).Unix()}), nil), jwt.ValidationErrorNotValidYet},
				"two parts":              {parts[0] + "." + parts[1], jwt.ValidationErrorMalformed},
				"four parts":             {good + ".x", jwt.ValidationErrorMalformed},
				"header not base64url":   {"e30+." + parts[1] + "." + parts[2], jwt.ValidationErrorMalformed},
				"header not JSON":        {base64.RawURLEncoding.EncodeToString([]byte("nope")) + "." + parts[1] + "." + parts[2], jwt.ValidationErrorMalformed},
				"kid in another case":    {base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"`+alg+`","KID":"`+active.KeyID+`"}`)) + "." + parts[1] + "." + parts[2], jwt.ValidationErrorUnverifiable},
			}
			for name, tc := range refused {
				c, err := kr.VerifyJWT(ctx, tc.token)
				var ve *jwt.ValidationError
				if err == nil || c != nil || !errors.As(err, &ve) || !ve.Has(tc.flag) {
					t.Errorf("%s: claims %v, err %v; want a validation error with flags %b", name, c, err, tc.flag)
				}
				if name != "another alg of the key" { // fosite's Decode lets a key sign with any alg of its family
					if _, err := kr.Signer().Decode(ctx, tc.token); err == nil {
						t.Errorf("%s: fosite's Decode accepts it", name)
					}
				}
			}
		})
	}
}

// TestVerifyJWTFollowsTheKeys: rotation and retirement reach VerifyJWT's per-kid keys; a kid
// rotated at another replica verifies after one reload, and a forged kid reloads nothing.
func TestVerifyJWTFollowsTheKeys(t *testing.T) {
	ctx := context.Background()
	st := storagetest.OpenSQLite(t, storage.Options{})
	now := time.Now()
	here, err := New(ctx, st, Options{Algorithm: "RS256", Overlap: time.Hour, CacheTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	here.now = func() time.Time { return now }
	if err := here.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{"sub": "alice", "exp": now.Add(3 * time.Hour).Unix()}
	old, _, err := here.Signer().Generate(ctx, claims, &jwt.Headers{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Rotate(ctx, st, "RS256"); err != nil { // at another replica
		t.Fatal(err)
	}
	there, err := New(ctx, st, Options{Algorithm: "RS256", Overlap: time.Hour, CacheTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	fresh, _, err := there.Signer().Generate(ctx, claims, &jwt.Headers{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := here.VerifyJWT(ctx, fresh); err == nil {
		t.Fatal("verified before any reload was due: the test clock is not in effect")
	}
	now = now.Add(unknownKIDReload)
	if _, err := here.VerifyJWT(ctx, fresh); err != nil {
		t.Fatalf("token of a key rotated elsewhere, well within cache_ttl: %v", err)
	}
	if _, err := here.VerifyJWT(ctx, old); err != nil {
		t.Fatalf("token of the retired key, inside the overlap: %v", err)
	}
	loaded := here.cur.Load()
	parts := strings.Split(fresh, ".")
	if _, err := here.VerifyJWT(ctx, "eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vcGUifQ."+parts[1]+"."+parts[2]); err == nil {
		t.Fatal("unknown kid accepted")
	}
	if here.cur.Load() != loaded {
		t.Fatal("an unknown kid reloaded the keys again within unknownKIDReload")
	}
	// Past the overlap the retired key is gone: its tokens no longer verify, the new key's do.
	now = now.Add(2 * time.Hour)
	if err := here.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := here.VerifyJWT(ctx, old); err == nil {
		t.Fatal("a token of a key retired past the overlap still verifies")
	}
	if _, err := here.VerifyJWT(ctx, fresh); err != nil {
		t.Fatalf("the active key's token: %v", err)
	}
}

// TestVerifyJWTOtherAlgorithms: a key of an algorithm without a fast path (an imported RS384 key)
// verifies through fosite's Decode, still only under its own alg.
func TestVerifyJWTOtherAlgorithms(t *testing.T) {
	ctx := context.Background()
	st := storagetest.OpenSQLite(t, storage.Options{})
	kr, err := New(ctx, st, Options{Algorithm: "RS256", Overlap: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := (&jose.JSONWebKey{Key: priv, KeyID: "rs384", Algorithm: "RS384", Use: "sig"}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddSigningKey(ctx, &storage.SigningKey{KID: "rs384", Algorithm: "RS384", PrivateJWK: raw}); err != nil {
		t.Fatal(err)
	}
	if err := kr.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}
	if c, err := kr.VerifyJWT(ctx, signWith(t, jose.RS384, priv, "rs384", claims, nil)); err != nil || c["sub"] != "alice" {
		t.Fatalf("RS384 token of the RS384 key: %v, %v", c, err)
	}
	if _, err := kr.VerifyJWT(ctx, signWith(t, jose.RS256, priv, "rs384", claims, nil)); err == nil {
		t.Fatal("RS256 token of the RS384 key accepted")
	}
	expired := map[string]any{"sub": "alice", "exp": time.Now().Add(-time.Minute).Unix()}
	if _, err := kr.VerifyJWT(ctx, signWith(t, jose.RS384, priv, "rs384", expired, nil)); err == nil {
		t.Fatal("expired RS384 token accepted")
	}
}
