package jwtaccess

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"
	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"

	"github.com/lingpai/lingpai/internal/keys"
	"github.com/lingpai/lingpai/internal/session"
	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/storagetest"
)

type fakeStore struct {
	revoked bool
	got     []any // the last revocation: jti, exp, grant
}

func (f *fakeStore) GetClient(_ context.Context, id string) (fosite.Client, error) {
	if id != "app" {
		return nil, fosite.ErrNotFound
	}
	return &fosite.DefaultClient{ID: id}, nil
}

func (f *fakeStore) AccessTokenRevoked(context.Context, string, string, string, time.Time) (bool, error) {
	return f.revoked, nil
}

func (f *fakeStore) RevokeJWTAccessToken(_ context.Context, jti string, exp time.Time, grant string) error {
	f.got = []any{jti, exp.Unix(), grant}
	return nil
}

// next stands for the wrapped fosite handler: it records that it was asked.
type next struct{ asked bool }

func (n *next) IntrospectToken(context.Context, string, fosite.TokenUse, fosite.AccessRequester, []string) (fosite.TokenUse, error) {
	n.asked = true
	return "", fosite.ErrUnknownRequest
}

func (n *next) RevokeToken(context.Context, string, fosite.TokenType, fosite.Client) error {
	n.asked = true
	return nil
}

func TestIntrospectorAndRevoker(t *testing.T) {
	ctx := context.Background()
	kr, err := keys.New(ctx, storagetest.OpenSQLite(t, storage.Options{}), keys.Options{Algorithm: "RS256", Overlap: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	signer := kr.Signer()
	now := time.Now()
	sign := func(claims jwt.MapClaims) string {
		tok, _, err := signer.Generate(ctx, claims, &jwt.Headers{})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	active, _ := kr.Active(ctx)
	// signRaw signs as anyone holding the key could: with another alg, or another key under its kid.
	signRaw := func(alg jose.SignatureAlgorithm, key any, claims jwt.MapClaims) string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", active.KeyID))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := josejwt.Signed(s).Claims(map[string]any(claims)).CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	base := func(extra jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"jti": "j1", "sub": "alice", "client_id": "app", "scope": "api openid", "aud": []string{"https://api"},
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), session.ClaimGrantID: "g1", session.ClaimGrantType: "password", "amr": []string{"pwd"}}
		for k, v := range extra {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	live := sign(base(nil))
	parts := strings.Split(live, ".")
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"jti":"j2","sub":"mallory","client_id":"app","exp":9999999999,"` + session.ClaimGrantID + `":"g2"}`))
	tests := []struct {
		name      string
		token     string
		revoked   bool
		wantInner bool
		wantErr   error
	}{
		{"an opaque token goes to fosite", "ory_at_abc.def", false, true, nil},
		{"a JWT without a grant (stored before the switch) goes to fosite", sign(base(jwt.MapClaims{session.ClaimGrantID: nil})), false, true, nil},
		{"an expired JWT goes to fosite (no row: inactive)", sign(base(jwt.MapClaims{"exp": now.Add(-time.Minute).Unix()})), false, true, nil},
		{"a live, unrevoked JWT is active", sign(base(nil)), false, false, nil},
		{"claims changed under the signature go to fosite (no row: inactive)", parts[0] + "." + forged + "." + parts[2], false, true, nil},
		{"another key under our kid goes to fosite", signRaw(jose.RS256, other, base(nil)), false, true, nil},
		{"our key with another alg goes to fosite", signRaw(jose.RS512, active.Key, base(nil)), false, true, nil},
		{"alg none goes to fosite", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"`+active.KeyID+`"}`)) + "." + parts[1] + ".", false, true, nil},
		{"a revoked JWT is inactive", sign(base(nil)), true, false, fosite.ErrInactiveToken},
		{"a deleted client's JWT is inactive", sign(base(jwt.MapClaims{"client_id": "gone"})), false, false, fosite.ErrInactiveToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, in := &fakeStore{revoked: tc.revoked}, &next{}
			ar := fosite.NewAccessRequest(session.New())
			use, err := Introspector(in, Options{Verifier: kr, Store: st}).IntrospectToken(ctx, tc.token, fosite.AccessToken, ar, nil)
			if in.asked != tc.wantInner {
				t.Fatalf("wrapped handler asked = %v, want %v", in.asked, tc.wantInner)
			}
			if tc.wantInner {
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			sess := ar.GetSession().(*session.Session)
			if use != fosite.AccessToken || ar.GetID() != "g1" || sess.GetSubject() != "alice" || sess.GrantType != "password" ||
				ar.GetClient().GetID() != "app" || !ar.GetGrantedScopes().Has("openid") || ar.GetGrantedAudience()[0] != "https://api" {
				t.Fatalf("request %+v, session %+v", ar, sess)
			}
			if _, ok := sess.GetExtraClaims()[session.ClaimGrantID]; ok || sess.GetExtraClaims()["amr"] == nil {
				t.Fatalf("extra claims %v: want amr, not the grant", sess.GetExtraClaims())
			}
		})
	}

	t.Run("revocation", func(t *testing.T) {
		tok := sign(base(nil))
		st, in := &fakeStore{}, &next{}
		r := Revoker(in, Options{Verifier: kr, Store: st})
		if err := r.RevokeToken(ctx, tok, fosite.AccessToken, &fosite.DefaultClient{ID: "other"}); !errors.Is(err, fosite.ErrUnauthorizedClient) || st.got != nil {
			t.Fatalf("another client: %v, revoked %v", err, st.got)
		}
		if err := r.RevokeToken(ctx, tok, fosite.AccessToken, &fosite.DefaultClient{ID: "app"}); err != nil || st.got == nil ||
			st.got[0] != "j1" || st.got[1] != now.Add(time.Hour).Unix() || st.got[2] != "g1" {
			t.Fatalf("own token: %v, revoked %v", err, st.got)
		}
		if err := r.RevokeToken(ctx, "ory_rt_x.y", fosite.RefreshToken, &fosite.DefaultClient{ID: "app"}); err != nil || !in.asked {
			t.Fatalf("a refresh token goes to fosite: %v, asked %v", err, in.asked)
		}
	})
}
