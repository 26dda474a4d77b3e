package keys

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite/token/jwt"

	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/storagetest"
)

func TestRotationKeepsOldTokensVerifying(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			ctx := context.Background()
			st := storagetest.OpenSQLite(t, storage.Options{})
			kr, err := New(ctx, st, Options{Algorithm: alg, Overlap: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			claims := jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}
			old, _, err := kr.Signer().Generate(ctx, claims, &jwt.Headers{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Rotate(ctx, st, alg); err != nil {
				t.Fatal(err)
			}
			if err := kr.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			fresh, _, err := kr.Signer().Generate(ctx, claims, &jwt.Headers{})
			if err != nil {
				t.Fatal(err)
			}
			if kidOf(t, kr, old) == kidOf(t, kr, fresh) {
				t.Fatal("rotation did not change the signing kid")
			}
			for name, tok := range map[string]string{"old": old, "fresh": fresh} {
				if _, err := kr.Signer().Validate(ctx, tok); err != nil {
					t.Fatalf("%s token no longer verifies: %v", name, err)
				}
			}
			set, _ := kr.PublicKeys(ctx)
			// Two of each algorithm the keyring keeps (ES256 keeps an RS256 key for id_tokens).
			if want := 2 * len(algorithms(alg)); len(set.Keys) != want || !set.Keys[0].IsPublic() {
				t.Fatalf("JWKS has %d keys, want %d public ones", len(set.Keys), want)
			}
			// A second keyring (another replica) agrees on the active key.
			other, err := New(ctx, st, Options{Algorithm: alg, Overlap: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			a1, _ := kr.Active(ctx)
			a2, _ := other.Active(ctx)
			if a1.KeyID != a2.KeyID {
				t.Fatalf("replicas disagree: %s vs %s", a1.KeyID, a2.KeyID)
			}
			// Tampered and unknown-kid tokens fail.
			parts := strings.Split(fresh, ".")
			if _, err := kr.Signer().Validate(ctx, parts[0]+"."+parts[1]+".AAAA"); err == nil {
				t.Fatal("bad signature accepted")
			}
			if _, err := kr.Signer().Validate(ctx, "eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vcGUifQ."+parts[1]+"."+parts[2]); err == nil {
				t.Fatal("unknown kid accepted")
			}
		})
	}
}

func kidOf(t *testing.T, kr *Keyring, tok string) string {
	t.Helper()
	parsed, err := kr.Signer().Decode(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := parsed.Header["kid"].(string)
	return kid
}

func BenchmarkSignRS256(b *testing.B) {
	ctx := context.Background()
	st := storagetest.OpenSQLite(b, storage.Options{})
	kr, err := New(ctx, st, Options{Algorithm: "RS256", CacheTTL: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	claims := jwt.MapClaims{"sub": "svc", "scope": "api1", "exp": time.Now().Add(time.Hour).Unix()}
	signer := kr.Signer()
	sign := func() {
		if _, _, err := signer.Generate(ctx, claims, &jwt.Headers{Extra: map[string]interface{}{"typ": "at+jwt"}}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("sequential", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sign()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(4) // as the token benchmark, for a like-for-like ratio
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				sign()
			}
		})
	})
}

// TestUnknownKIDReloadsOnce: a token signed with a key rotated at another replica verifies here
// before cache_ttl is up, and unknown kids reload the keys at most once per unknownKIDReload.
func TestUnknownKIDReloadsOnce(t *testing.T) {
	ctx := context.Background()
	st := storagetest.OpenSQLite(t, storage.Options{})
	now := time.Now()
	here, err := New(ctx, st, Options{Algorithm: "RS256", Overlap: time.Hour, CacheTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	here.now = func() time.Time { return now }
	if err := here.Refresh(ctx); err != nil { // loadedAt on the fake clock
		t.Fatal(err)
	}
	// Another replica rotates and signs with the new key.
	if _, err := Rotate(ctx, st, "RS256"); err != nil {
		t.Fatal(err)
	}
	there, err := New(ctx, st, Options{Algorithm: "RS256", Overlap: time.Hour, CacheTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := there.Signer().Generate(ctx, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}, &jwt.Headers{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := here.Signer().Validate(ctx, tok); err == nil {
		t.Fatal("verified before any reload was due: the test clock is not in effect")
	}
	now = now.Add(unknownKIDReload)
	if _, err := here.Signer().Validate(ctx, tok); err != nil {
		t.Fatalf("token of a key rotated elsewhere, well within cache_ttl: %v", err)
	}
	// A forged kid right after reloads nothing.
	loaded := here.cur.Load()
	parts := strings.Split(tok, ".")
	if _, err := here.Signer().Validate(ctx, "eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vcGUifQ."+parts[1]+"."+parts[2]); err == nil {
		t.Fatal("unknown kid accepted")
	}
	if here.cur.Load() != loaded {
		t.Fatal("an unknown kid reloaded the keys again within unknownKIDReload")
	}
}
