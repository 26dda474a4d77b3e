package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
	"github.com/lingpai/lingpai/storage"
)

// tokenFrom posts a client_credentials request with Basic credentials as if from ip (the test
// server trusts 127.0.0.1 as a proxy).
func tokenFrom(t *testing.T, s *lingpaitest.Server, ip, id, secret string) *lingpaitest.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/connect/token", strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", ip)
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return s.Do(req)
}

// TestClientSecretGuessingIsThrottled is issue 12 item 3: failed client authentications are
// counted per client id + IP (throttle.max_failures) and per IP (throttle.ip_max_failures); past
// the limit the right secret from that IP gets the same 401 invalid_client as a wrong one, while
// the client's own servers at another IP keep getting tokens.
func TestClientSecretGuessingIsThrottled(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		s := lingpaitest.Start(t, backend, func(c *config.Config) {
			c.Server.TrustedProxies = []string{"127.0.0.1"}
			c.Throttle.MaxFailures, c.Throttle.IPMaxFailures = 3, 6
		})
		hash, err := hashing.Hasher{Argon2: hashing.Argon2Params{Memory: 1024, Time: 1, Threads: 1}}.Hash(context.Background(), []byte("chosen secret"))
		if err != nil {
			t.Fatal(err)
		}
		s.Client("chosen", []string{"client_credentials"}, []string{"api"}, func(c *storage.Client) { c.SecretHash = hash })
		generated := s.Client("generated", []string{"client_credentials"}, []string{"api"})

		var wrong *lingpaitest.Response
		for range 3 {
			wrong = tokenFrom(t, s, "203.0.113.66", "chosen", "guess")
			if wrong.Status != http.StatusUnauthorized || wrong.Str("error") != "invalid_client" {
				t.Fatalf("guess = %d %s", wrong.Status, wrong.Raw)
			}
		}
		locked := tokenFrom(t, s, "203.0.113.66", "chosen", "chosen secret")
		if locked.Status != wrong.Status || locked.Raw != wrong.Raw || locked.Header.Get("WWW-Authenticate") != wrong.Header.Get("WWW-Authenticate") {
			t.Fatalf("right secret from the guessing IP = %d %s, want the wrong secret's answer %d %s", locked.Status, locked.Raw, wrong.Status, wrong.Raw)
		}
		if r := tokenFrom(t, s, "198.51.100.7", "chosen", "chosen secret"); r.Status != http.StatusOK {
			t.Fatalf("the client from its own IP is locked out: %d %s", r.Status, r.Raw)
		}
		// Per IP: three more failures on another client id reach ip_max_failures (6).
		for range 3 {
			tokenFrom(t, s, "203.0.113.66", "generated", "guess")
		}
		if r := tokenFrom(t, s, "203.0.113.66", "generated", "guess"); r.Status != http.StatusUnauthorized || r.Raw != wrong.Raw {
			t.Fatalf("guess from a locked IP = %d %s", r.Status, r.Raw)
		}
		if r := tokenFrom(t, s, "198.51.100.7", "generated", generated); r.Status != http.StatusOK {
			t.Fatalf("generated client from another IP: %d %s", r.Status, r.Raw)
		}
		if !s.Logs.Mentions("client.throttled") {
			t.Error("no client.throttled audit event")
		}
	})
}

// TestChosenSecretCache is issue 16 item 1 from outside: with server.cache_ttl on, a chosen
// secret keeps working, a wrong one never does, and a changed secret or a deleted client takes
// effect at once in this process (the cache is dropped with the client).
func TestChosenSecretCache(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		s := lingpaitest.Start(t, backend, func(c *config.Config) { c.Server.CacheTTL = time.Minute })
		h := hashing.Hasher{Argon2: hashing.Argon2Params{Memory: 1024, Time: 1, Threads: 1}}
		hash, _ := h.Hash(context.Background(), []byte("first secret"))
		s.Client("chosen", []string{"client_credentials"}, []string{"api"}, func(c *storage.Client) { c.SecretHash = hash })
		for i := range 3 {
			if r := tokenFrom(t, s, "127.0.0.1", "chosen", "first secret"); r.Status != http.StatusOK {
				t.Fatalf("request %d: %d %s", i, r.Status, r.Raw)
			}
			if r := tokenFrom(t, s, "127.0.0.1", "chosen", "first secret "); r.Status != http.StatusUnauthorized {
				t.Fatalf("wrong secret after a cached success: %d %s", r.Status, r.Raw)
			}
		}
		c, err := s.Store.Client(context.Background(), "chosen")
		if err != nil {
			t.Fatal(err)
		}
		updated := *c
		updated.SecretHash, _ = h.Hash(context.Background(), []byte("second secret"))
		if err := s.Store.UpdateClient(context.Background(), &updated); err != nil {
			t.Fatal(err)
		}
		if r := tokenFrom(t, s, "127.0.0.1", "chosen", "first secret"); r.Status != http.StatusUnauthorized {
			t.Fatalf("old secret after the change: %d %s", r.Status, r.Raw)
		}
		if r := tokenFrom(t, s, "127.0.0.1", "chosen", "second secret"); r.Status != http.StatusOK {
			t.Fatalf("new secret: %d %s", r.Status, r.Raw)
		}
		if err := s.Store.DeleteClient(context.Background(), "chosen"); err != nil {
			t.Fatal(err)
		}
		if r := tokenFrom(t, s, "127.0.0.1", "chosen", "second secret"); r.Status != http.StatusUnauthorized {
			t.Fatalf("deleted client: %d %s", r.Status, r.Raw)
		}
	})
}
