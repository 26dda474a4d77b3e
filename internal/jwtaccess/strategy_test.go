package jwtaccess

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/jwt"

	"github.com/lingpai/lingpai/internal/keys"
	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/storagetest"
)

// TestStrategyAnswersAsFosite: Strategy.ValidateAccessToken gives, for each token, the error
// fosite's own JWT strategy gives with the keyring's signer.
func TestStrategyAnswersAsFosite(t *testing.T) {
	ctx := context.Background()
	kr, err := keys.New(ctx, storagetest.OpenSQLite(t, storage.Options{}), keys.Options{Algorithm: "RS256", Overlap: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	fositeOwn := &oauth2.DefaultJWTStrategy{Signer: kr.Signer()}
	ours := &Strategy{DefaultJWTStrategy: fositeOwn, Verifier: kr}
	sign := func(exp time.Time) string {
		tok, _, err := kr.Signer().Generate(ctx, jwt.MapClaims{"sub": "svc", "exp": exp.Unix()}, &jwt.Headers{})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	live := sign(time.Now().Add(time.Hour))
	parts := strings.Split(live, ".")
	for name, tc := range map[string]struct {
		token string
		want  error
	}{
		"live":          {live, nil},
		"expired":       {sign(time.Now().Add(-time.Minute)), fosite.ErrTokenExpired},
		"tampered":      {parts[0] + "." + parts[1] + ".AAAA", fosite.ErrTokenSignatureMismatch},
		"unknown kid":   {"eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vcGUifQ." + parts[1] + "." + parts[2], fosite.ErrTokenSignatureMismatch},
		"not a JWT":     {"ory_at_abc.def", fosite.ErrInvalidTokenFormat},
		"opaque, dotty": {"a.b.c", fosite.ErrInvalidTokenFormat},
	} {
		got := ours.ValidateAccessToken(ctx, nil, tc.token)
		theirs := fositeOwn.ValidateAccessToken(ctx, nil, tc.token)
		if !errors.Is(got, tc.want) || (tc.want == nil) != (got == nil) {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
		if (theirs == nil) != (got == nil) || (theirs != nil && !errors.Is(theirs, tc.want)) {
			t.Errorf("%s: fosite's strategy says %v, ours %v", name, theirs, got)
		}
	}
}
