package storage_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/storagetest"
)

// TestImportedTables covers the tables an import fills, on every backend: extra client secrets
// with expiry, per-client lifetimes, the password-hash compare-and-set and the one-time use of a
// legacy refresh token under concurrency.
func TestImportedTables(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			s := b.Open(t, storage.Options{})
			if err := s.CreateClient(ctx, &storage.Client{ID: "app", Name: "app"}); err != nil {
				t.Fatal(err)
			}
			past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
			secrets := []storage.ClientSecret{{Hash: []byte("live")}, {Hash: []byte("old"), ExpiresAt: &past}, {Hash: []byte("soon"), ExpiresAt: &future}}
			for range 2 { // a re-import replaces, never duplicates
				if err := s.ReplaceClientSecrets(ctx, "app", "is4", secrets); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.SaveClientSettings(ctx, &storage.ClientSettings{ClientID: "app", AccessTokenLifetime: 300}); err != nil {
				t.Fatal(err)
			}
			c, err := s.Client(ctx, "app")
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, h := range hashing.Alternatives(c.GetHashedSecret()) {
				got[string(h)] = true
			}
			if len(got) != 2 || !got["live"] || !got["soon"] { // the client has no secret of its own here
				t.Fatalf("rotated hashes = %v, want live and soon (not the expired one)", got)
			}
			if d := c.GetEffectiveLifespan(fosite.GrantTypeRefreshToken, fosite.AccessToken, time.Hour); d != 5*time.Minute {
				t.Fatalf("access token lifespan = %v, want 5m", d)
			}
			if d := c.GetEffectiveLifespan(fosite.GrantTypeRefreshToken, fosite.IDToken, time.Hour); d != time.Hour {
				t.Fatalf("unset id token lifespan = %v, want the fallback", d)
			}

			u := &storage.User{PasswordHash: []byte("old")}
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.ReplacePasswordHash(ctx, u.ID, []byte("other"), []byte("new")); ok || err != nil {
				t.Fatalf("CAS with a stale hash = %v, %v; want false", ok, err)
			}
			if ok, err := s.ReplacePasswordHash(ctx, u.ID, []byte("old"), []byte("new")); !ok || err != nil {
				t.Fatalf("CAS = %v, %v; want true", ok, err)
			}

			rt := &storage.LegacyRefreshToken{LookupKey: "k1", ClientID: "app", Subject: u.ID, Scopes: []string{"openid"},
				IssuedAt: time.Now().UTC(), ExpiresAt: future.UTC()}
			if created, err := s.SaveLegacyRefreshToken(ctx, rt); !created || err != nil {
				t.Fatalf("first save = %v, %v", created, err)
			}
			var wg sync.WaitGroup
			wins := make(chan bool, 8)
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ok, err := s.ConsumeLegacyRefreshToken(ctx, "k1")
					if err != nil {
						t.Error(err)
					}
					wins <- ok
				}()
			}
			wg.Wait()
			close(wins)
			n := 0
			for ok := range wins {
				if ok {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%d of 8 concurrent consumers won, want exactly 1", n)
			}
			// A re-import must not revive a token already used here.
			if created, err := s.SaveLegacyRefreshToken(ctx, rt); created || err != nil {
				t.Fatalf("second save = %v, %v", created, err)
			}
			back, err := s.LegacyRefreshTokenByKey(ctx, "k1")
			if err != nil || !back.Consumed {
				t.Fatalf("after re-import: %+v, %v; want still consumed", back, err)
			}
		})
	}
}
