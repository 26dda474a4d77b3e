package opstest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/keys"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/storagetest"
)

// TestReplicasBehaveAsOne runs the compose topology's replicas as two complete servers (each its
// own server.New, connection pool, keyring and caches, as two processes would have) on one MySQL
// database, and checks that state made at one is honoured at the other.
func TestReplicasBehaveAsOne(t *testing.T) {
	dsn := storagetest.MySQLDSN(t) // skips with storagetest.SkipMessage without a server
	configure := func(c *config.Config) {
		c.Database.DSN = dsn
		c.Server.Issuer = "http://lingpai.test" // one issuer behind the load balancer
		c.Server.CacheTTL = time.Second
		c.Throttle.MaxFailures = 3
	}
	a := lingpaitest.Start(t, "mysql", configure)
	b := lingpaitest.Start(t, "mysql", configure)
	// An explicit audience: the harness derives the default one from each replica's own test URL.
	secret := a.Client("app", []string{"password", "refresh_token", "client_credentials"}, []string{"openid", "offline_access", "api1"},
		func(c *storage.Client) { c.Audience = storage.StringList{"https://api.example"} })
	a.User("alice", "alice-password-1")
	a.User("carol", "carol-password-1")
	pw := func(user, pass string) url.Values {
		return url.Values{"grant_type": {"password"}, "username": {user}, "password": {pass}, "scope": {"openid offline_access api1"}}
	}
	refresh := func(rt string) url.Values { return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}} }

	t.Run("issued at A, refreshed at B; reuse at A revokes the family at B", func(t *testing.T) {
		first := a.Token("app", secret, pw("alice", "alice-password-1"))
		if first.Status != 200 {
			t.Fatal(first.Raw)
		}
		second := b.Token("app", secret, refresh(first.Str("refresh_token")))
		if second.Status != 200 || second.Str("refresh_token") == "" {
			t.Fatalf("refresh at B: %d %s", second.Status, second.Raw)
		}
		reuse := a.Token("app", secret, refresh(first.Str("refresh_token")))
		if reuse.Status != 400 || reuse.Str("error") != "invalid_grant" {
			t.Fatalf("reuse at A: %d %s", reuse.Status, reuse.Raw)
		}
		if r := b.Token("app", secret, refresh(second.Str("refresh_token"))); r.Status != 400 {
			t.Fatalf("the family's newest refresh token still works at B: %d %s", r.Status, r.Raw)
		}
		if r := b.Post("/connect/introspect", url.Values{"token": {second.Str("access_token")}}, "app", secret); r.Body["active"] != false {
			t.Fatalf("the family's access token is still active at B: %s", r.Raw)
		}
	})

	t.Run("revocation at B is seen by introspection at A", func(t *testing.T) {
		tok := a.Token("app", secret, url.Values{"grant_type": {"client_credentials"}})
		if r := a.Post("/connect/introspect", url.Values{"token": {tok.Str("access_token")}}, "app", secret); r.Body["active"] != true {
			t.Fatalf("fresh token inactive: %s", r.Raw)
		}
		if r := b.Post("/connect/revocation", url.Values{"token": {tok.Str("access_token")}}, "app", secret); r.Status != 200 {
			t.Fatalf("revoke at B: %d %s", r.Status, r.Raw)
		}
		if r := a.Post("/connect/introspect", url.Values{"token": {tok.Str("access_token")}}, "app", secret); r.Body["active"] != false {
			t.Fatalf("revoked at B, still active at A: %s", r.Raw)
		}
	})

	t.Run("key rotated at A is used and published by B within cache_ttl", func(t *testing.T) {
		ctx := context.Background()
		k, err := keys.Rotate(ctx, a.Store, "RS256")
		if err != nil {
			t.Fatal(err)
		}
		if err := a.App.Keyring.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if kid := kidOf(t, a.Token("app", secret, url.Values{"grant_type": {"client_credentials"}}).Str("access_token")); kid != k.KID {
			t.Fatalf("A signs with %s, want the rotated %s", kid, k.KID)
		}
		deadline := time.Now().Add(3 * time.Second) // cache_ttl is 1s
		for {
			signed := kidOf(t, b.Token("app", secret, url.Values{"grant_type": {"client_credentials"}}).Str("access_token"))
			jwks := b.Do(mustGet(t, b.URL+"/.well-known/openid-configuration/jwks")).Raw
			if signed == k.KID && strings.Contains(jwks, k.KID) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("B still signs with %s (jwks %s) 3s after the rotation", signed, jwks)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("throttling is counted across both replicas", func(t *testing.T) {
		for i, s := range []*lingpaitest.Server{a, b, a} { // max_failures=3, spread over A and B
			if r := s.Token("app", secret, pw("carol", "wrong-password")); r.Str("error") != "invalid_grant" {
				t.Fatalf("failure %d: %s", i, r.Raw)
			}
		}
		if r := b.Token("app", secret, pw("carol", "carol-password-1")); r.Status != 400 || r.Str("error") != "invalid_grant" {
			t.Fatalf("the right password after 3 failures across replicas: %d %s (want the lock)", r.Status, r.Raw)
		}
		if !strings.Contains(a.Logs.String()+b.Logs.String(), `"event":"account.throttled"`) {
			t.Fatal("no account.throttled event logged")
		}
	})
}

func kidOf(t *testing.T, jwt string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		KID string `json:"kid"`
	}
	_ = json.Unmarshal(raw, &h)
	return h.KID
}
