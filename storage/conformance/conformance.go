// Package conformance is the storage test suite every backend must pass: the fosite storage
// contracts lingpai relies on, including the ones fosite's own MemoryStore gets wrong for us
// (reuse returns the request with the error; rotation retires rather than deletes).
package conformance

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/internal/session"
	"github.com/lingpai/lingpai/storage"
)

// RunTests runs the suite against stores made by open, which adds the backend's own options to
// those given.
func RunTests(t *testing.T, open func(t *testing.T, opts storage.Options) *storage.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *storage.Store)
		opts storage.Options
	}{
		{"ClientsCRUD", testClients, storage.Options{}},
		{"AccessTokens", testAccessTokens, storage.Options{}},
		{"RefreshRotationAndReuse", testRefreshRotation, storage.Options{}},
		{"ConcurrentRotationOneWinner", testConcurrentRotation, storage.Options{}},
		{"AuthorizeCodeSingleUse", testAuthorizeCode, storage.Options{}},
		{"PKCEAndOIDCSessions", testPKCEAndOIDC, storage.Options{}},
		{"TransactionRollback", testRollback, storage.Options{}},
		{"UsersAndIdentities", testUsers, storage.Options{}},
		{"SigningKeysRotate", testKeys, storage.Options{}},
		{"SecretsStable", testSecrets, storage.Options{}},
		{"ThrottleCounters", testThrottle, storage.Options{}},
		{"ClientAssertionJTI", testJTI, storage.Options{}},
		{"SMSCodeLifecycle", testSMSCodes, storage.Options{}},
		{"SMSCodeConcurrentRedeem", testSMSConcurrent, storage.Options{}},
		{"Counters", testCounters, storage.Options{}},
		{"LoginSessionsAndConsents", testWeb, storage.Options{}},
		{"RotateRefresh", testRotateRefresh, storage.Options{}},
		{"ConcurrentRotateRefreshOneWinner", testConcurrentRotateRefresh, storage.Options{}},
		{"RefreshReadsAccount", testRefreshReadsAccount, storage.Options{}},
		{"Revocations", testRevocations, storage.Options{}},
		{"StatelessAccessTokens", testStatelessAccessTokens, storage.Options{StatelessAccessTokens: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t, tt.opts)) })
	}
}

var ctx = context.Background()

func newClient(t *testing.T, s *storage.Store, id string) *storage.Client {
	t.Helper()
	c := &storage.Client{ID: id, Name: id, SecretHash: []byte("$sha256$x"), GrantTypes: storage.StringList{"refresh_token", "password"},
		Scopes: storage.StringList{"openid", "offline_access", "api1"}}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	return c
}

func newRequest(t *testing.T, s *storage.Store, clientID, requestID, subject string) *fosite.Request {
	t.Helper()
	c, err := s.GetClient(ctx, clientID)
	if err != nil {
		t.Fatal(err)
	}
	sess := session.New()
	sess.SetSubject(subject)
	sess.SetExpiresAt(fosite.AccessToken, time.Now().Add(time.Hour))
	sess.SetExpiresAt(fosite.RefreshToken, time.Now().Add(24*time.Hour))
	sess.JWTClaims.Extra["client_id"] = clientID
	r := fosite.NewRequest()
	r.ID = requestID
	r.Client = c
	r.RequestedAt = time.Now().UTC().Truncate(time.Second)
	r.RequestedScope = fosite.Arguments{"openid", "offline_access"}
	r.GrantedScope = fosite.Arguments{"openid", "offline_access"}
	r.GrantedAudience = fosite.Arguments{"https://api.example"}
	r.Form = url.Values{"grant_type": {"password"}}
	r.Session = sess
	return r
}

func testClients(t *testing.T, s *storage.Store) {
	c := newClient(t, s, "app")
	if err := s.CreateClient(ctx, &storage.Client{ID: "app"}); !errors.Is(err, storage.ErrClientExists) {
		t.Fatalf("duplicate client: %v", err)
	}
	got, err := s.Client(ctx, "app")
	if err != nil || got.Name != c.Name || !got.GetGrantTypes().Has("password") || len(got.Scopes) != 3 {
		t.Fatalf("GetClient = %+v, %v", got, err)
	}
	if _, err := s.GetClient(ctx, "nope"); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("unknown client: %v", err)
	}
	got.Scopes = storage.StringList{"api1"}
	if err := s.UpdateClient(ctx, got); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Client(ctx, "app"); len(again.Scopes) != 1 {
		t.Fatalf("update not seen: %v", again.Scopes)
	}
	r := newRequest(t, s, "app", "req-del", "alice")
	if err := s.CreateAccessTokenSession(ctx, "sig-del", r); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteClient(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAccessTokenSession(ctx, "sig-del", session.New()); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("token of deleted client still readable: %v", err)
	}
	if err := s.DeleteClient(ctx, "app"); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func testAccessTokens(t *testing.T, s *storage.Store) {
	newClient(t, s, "app")
	r := newRequest(t, s, "app", "req-1", "alice")
	if err := s.CreateAccessTokenSession(ctx, "at-sig", r); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAccessTokenSession(ctx, "at-sig", nil) // nil session: revocation does this
	if err != nil {
		t.Fatal(err)
	}
	if got.GetID() != "req-1" || got.GetSession().GetSubject() != "alice" || !got.GetGrantedScopes().Has("offline_access") ||
		got.GetGrantedAudience()[0] != "https://api.example" || got.GetClient().GetID() != "app" {
		t.Fatalf("round trip lost data: %+v", got)
	}
	if sess := got.GetSession().(*session.Session); sess.JWTClaims.Extra["client_id"] != "app" || sess.JWTClaims.Subject != "alice" {
		t.Fatalf("session claims lost: %+v", sess.JWTClaims)
	}
	if err := s.RevokeAccessToken(ctx, "req-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAccessTokenSession(ctx, "at-sig", session.New()); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("revoked token: %v", err)
	}
}

func testRefreshRotation(t *testing.T, s *storage.Store) {
	newClient(t, s, "app")
	r := newRequest(t, s, "app", "fam-1", "alice")
	must(t, s.CreateAccessTokenSession(ctx, "at1", r))
	must(t, s.CreateRefreshTokenSession(ctx, "rt1", "at1", r))
	// rotate rt1 -> rt2
	must(t, s.RotateRefreshToken(ctx, "fam-1", "rt1"))
	must(t, s.CreateAccessTokenSession(ctx, "at2", r))
	must(t, s.CreateRefreshTokenSession(ctx, "rt2", "at2", r))
	if _, err := s.GetAccessTokenSession(ctx, "at1", nil); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("old access token survived rotation: %v", err)
	}
	req, err := s.GetRefreshTokenSession(ctx, "rt1", nil)
	if !errors.Is(err, fosite.ErrInactiveToken) || req == nil || req.GetID() != "fam-1" {
		t.Fatalf("used refresh token: req=%v err=%v; want the request with ErrInactiveToken", req, err)
	}
	if _, err := s.GetRefreshTokenSession(ctx, "rt2", nil); err != nil {
		t.Fatalf("new refresh token: %v", err)
	}
	// Rotating rt1 again is reuse: error, and after the (absent) transaction the family is revoked.
	if err := s.RotateRefreshToken(ctx, "fam-1", "rt1"); !errors.Is(err, storage.ErrTokenReused) || !errors.Is(err, fosite.ErrSerializationFailure) {
		t.Fatalf("second rotation: %v", err)
	}
	if _, err := s.GetRefreshTokenSession(ctx, "rt2", nil); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Fatalf("family not revoked: %v", err)
	}
	if _, err := s.GetAccessTokenSession(ctx, "at2", nil); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("family access token not revoked: %v", err)
	}
}

func testConcurrentRotation(t *testing.T, s *storage.Store) {
	newClient(t, s, "app")
	r := newRequest(t, s, "app", "fam-c", "alice")
	must(t, s.CreateRefreshTokenSession(ctx, "rt", "", r))
	const n = 8
	var wg sync.WaitGroup
	results := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tctx, err := s.BeginTX(ctx)
			if err != nil {
				results <- err
				return
			}
			if err := s.RotateRefreshToken(tctx, "fam-c", "rt"); err != nil {
				_ = s.Rollback(tctx)
				results <- err
				return
			}
			results <- s.Commit(tctx)
		}()
	}
	wg.Wait()
	close(results)
	wins := 0
	for err := range results {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, storage.ErrTokenReused) || storage.IsRetryable(err):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d rotations won, want exactly 1", wins)
	}
}

func testAuthorizeCode(t *testing.T, s *storage.Store) {
	newClient(t, s, "app")
	r := newRequest(t, s, "app", "code-req", "alice")
	must(t, s.CreateAuthorizeCodeSession(ctx, "code", r))
	if _, err := s.GetAuthorizeCodeSession(ctx, "code", session.New()); err != nil {
		t.Fatal(err)
	}
	must(t, s.InvalidateAuthorizeCodeSession(ctx, "code"))
	if err := s.InvalidateAuthorizeCodeSession(ctx, "code"); !errors.Is(err, fosite.ErrSerializationFailure) {
		t.Fatalf("second invalidate: %v", err)
	}
	req, err := s.GetAuthorizeCodeSession(ctx, "code", session.New())
	if !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) || req == nil || req.GetID() != "code-req" {
		t.Fatalf("used code: %v %v", req, err)
	}
}

func testPKCEAndOIDC(t *testing.T, s *storage.Store) {
	newClient(t, s, "app")
	r := newRequest(t, s, "app", "p", "alice")
	r.Form.Set("code_challenge", "abc")
	must(t, s.CreatePKCERequestSession(ctx, "c", r))
	got, err := s.GetPKCERequestSession(ctx, "c", session.New())
	if err != nil || got.GetRequestForm().Get("code_challenge") != "abc" {
		t.Fatalf("pkce: %v %v", got, err)
	}
	must(t, s.DeletePKCERequestSession(ctx, "c"))
	if _, err := s.GetPKCERequestSession(ctx, "c", session.New()); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("deleted pkce: %v", err)
	}
	must(t, s.CreateOpenIDConnectSession(ctx, "c", r))
	if _, err := s.GetOpenIDConnectSession(ctx, "c", r); err != nil {
		t.Fatal(err)
	}
	must(t, s.DeleteOpenIDConnectSession(ctx, "c"))
	if _, err := s.GetOpenIDConnectSession(ctx, "c", r); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("deleted oidc: %v", err)
	}
}

func testRollback(t *testing.T, s *storage.Store) {
	newClient(t, s, "app")
	r := newRequest(t, s, "app", "tx", "alice")
	tctx, err := s.BeginTX(ctx)
	must(t, err)
	must(t, s.CreateAccessTokenSession(tctx, "tx-at", r))
	must(t, s.Rollback(tctx))
	if _, err := s.GetAccessTokenSession(ctx, "tx-at", nil); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("rolled back write is visible: %v", err)
	}
	err = s.Transaction(ctx, func(ctx context.Context) error {
		must(t, s.CreateAccessTokenSession(ctx, "tx-at2", r))
		return errors.New("boom")
	})
	if err == nil {
		t.Fatal("Transaction swallowed the error")
	}
	if _, err := s.GetAccessTokenSession(ctx, "tx-at2", nil); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("failed Transaction left a row: %v", err)
	}
}

func testUsers(t *testing.T, s *storage.Store) {
	name, phone := "alice", "+8613800138000"
	u := &storage.User{Username: &name, PasswordHash: []byte("h"), Name: "爱丽丝", Phone: &phone}
	must(t, s.CreateUser(ctx, u))
	dup := "alice"
	if err := s.CreateUser(ctx, &storage.User{Username: &dup}); !errors.Is(err, storage.ErrUserExists) {
		t.Fatalf("duplicate username: %v", err)
	}
	// Two users without username or phone must coexist (NULLs are not duplicates).
	must(t, s.CreateUser(ctx, &storage.User{}))
	must(t, s.CreateUser(ctx, &storage.User{}))
	got, err := s.UserByUsername(ctx, "alice")
	if err != nil || got.ID != u.ID || got.Name != "爱丽丝" {
		t.Fatalf("by username: %+v %v", got, err)
	}
	if got, err := s.UserByPhone(ctx, phone); err != nil || got.ID != u.ID {
		t.Fatalf("by phone: %v", err)
	}
	if _, err := s.UserByUsername(ctx, "ALICE"); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("lookups must be exact (callers normalise): %v", err)
	}
	id := &storage.Identity{UserID: u.ID, Provider: "ldap", Subject: "guid-1"}
	must(t, s.LinkIdentity(ctx, id))
	must(t, s.LinkIdentity(ctx, &storage.Identity{UserID: u.ID, Provider: "ldap", Subject: "guid-1"}))
	if err := s.LinkIdentity(ctx, &storage.Identity{UserID: "other", Provider: "ldap", Subject: "guid-1"}); !errors.Is(err, storage.ErrUserExists) {
		t.Fatalf("identity stolen by another user: %v", err)
	}
	if got, err := s.IdentityOf(ctx, "ldap", "guid-1"); err != nil || got.UserID != u.ID {
		t.Fatalf("identity: %v", err)
	}
}

func testKeys(t *testing.T, s *storage.Store) {
	k1 := &storage.SigningKey{KID: "k1", Algorithm: "RS256", PrivateJWK: []byte("{}")}
	stored, err := s.AddSigningKeyIfNone(ctx, k1)
	if err != nil || !stored {
		t.Fatalf("first key: %v %v", stored, err)
	}
	if stored, _ := s.AddSigningKeyIfNone(ctx, &storage.SigningKey{KID: "k0", Algorithm: "RS256", PrivateJWK: []byte("{}")}); stored {
		t.Fatal("a second initial key was stored")
	}
	time.Sleep(10 * time.Millisecond) // created_at orders keys
	must(t, s.AddSigningKey(ctx, &storage.SigningKey{KID: "k2", Algorithm: "RS256", PrivateJWK: []byte("{}")}))
	keys, err := s.SigningKeys(ctx, time.Now().Add(-time.Hour))
	if err != nil || len(keys) != 2 || keys[0].KID != "k2" || keys[0].RetiredAt != nil || keys[1].RetiredAt == nil {
		t.Fatalf("keys after rotation: %+v %v", keys, err)
	}
	if keys, _ := s.SigningKeys(ctx, time.Now().Add(time.Hour)); len(keys) != 1 {
		t.Fatalf("retired key still listed past its window: %d", len(keys))
	}
}

func testSecrets(t *testing.T, s *storage.Store) {
	a, err := s.Secret(ctx, "hmac", 32)
	must(t, err)
	b, err := s.Secret(ctx, "hmac", 32)
	must(t, err)
	if len(a) != 32 || string(a) != string(b) {
		t.Fatal("secret changed between reads")
	}
}

func testThrottle(t *testing.T, s *storage.Store) {
	now := time.Now()
	add := func(bucket, first int64, delta int) []int {
		t.Helper()
		n, err := s.AddFailures(ctx, []string{"acct:alice", "ip:1.2.3.4"}, bucket, first, delta, now.Add(time.Hour))
		must(t, err)
		return n
	}
	for i := 1; i <= 3; i++ {
		if n := add(100, 90, 1); n[0] != i || n[1] != i {
			t.Fatalf("count %v, want %d", n, i)
		}
	}
	if n := add(101, 90, 1); n[0] != 4 {
		t.Fatalf("sum over buckets %v, want 4", n)
	}
	if n := add(102, 101, 1); n[0] != 2 {
		t.Fatalf("window sum %v, want 2", n)
	}
	if n := add(102, 101, -1); n[0] != 1 {
		t.Fatalf("after giving one back %v, want 1", n)
	}
	must(t, s.GiveBackFailures(ctx, []string{"acct:alice", "ip:1.2.3.4"}, 102, -1, now.Add(time.Hour)))
	if n, err := s.SumCounters(ctx, []string{"acct:alice", "ip:1.2.3.4"}, 101); err != nil || n[0] != 0 || n[1] != 0 {
		t.Fatalf("after GiveBackFailures %v %v, want 0 0", n, err)
	}
	// A key named twice counts twice (one upsert may not touch a row twice on PostgreSQL).
	if n, err := s.AddFailures(ctx, []string{"acct:bob", "acct:bob"}, 102, 101, 1, now.Add(time.Hour)); err != nil || n[0] != 2 || n[1] != 2 {
		t.Fatalf("repeated key %v %v, want 2 2", n, err)
	}
	must(t, s.Lock(ctx, "acct:alice", now.Add(time.Minute)))
	locked, err := s.LockedKeys(ctx, []string{"acct:alice", "ip:1.2.3.4"}, now)
	if err != nil || len(locked) != 1 || locked[0] != "acct:alice" {
		t.Fatalf("locked: %v %v", locked, err)
	}
	if locked, _ := s.LockedKeys(ctx, []string{"acct:alice"}, now.Add(2*time.Minute)); len(locked) != 0 {
		t.Fatal("lock did not expire")
	}
}

func testJTI(t *testing.T, s *storage.Store) {
	must(t, s.ClientAssertionJWTValid(ctx, "j1"))
	must(t, s.SetClientAssertionJWT(ctx, "j1", time.Now().Add(time.Minute)))
	if err := s.ClientAssertionJWTValid(ctx, "j1"); !errors.Is(err, fosite.ErrJTIKnown) {
		t.Fatalf("replayed jti: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
