package conformance

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/internal/session"
	"github.com/lingpai/lingpai/storage"
)

// testRotateRefresh: RotateRefresh retires the presented token and its access token, the
// successors work, and presenting the old token again revokes the family.
func testRotateRefresh(t *testing.T, s *storage.Store) {
	newClient(t, s, "app")
	r := newRequest(t, s, "app", "fam-r", "alice")
	must(t, s.CreateAccessTokenSession(ctx, "at1", r))
	must(t, s.CreateRefreshTokenSession(ctx, "rt1", "at1", r))
	rot := storage.Rotation{RequestID: "fam-r", Presented: "rt1", AccessSignature: "at2", Access: r, RefreshSignature: "rt2", Refresh: r}
	must(t, s.RotateRefresh(ctx, rot))
	if _, err := s.GetAccessTokenSession(ctx, "at1", nil); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("old access token survived rotation: %v", err)
	}
	if _, err := s.GetAccessTokenSession(ctx, "at2", nil); err != nil {
		t.Fatalf("new access token: %v", err)
	}
	if _, err := s.GetRefreshTokenSession(ctx, "rt1", nil); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Fatalf("presented token still active: %v", err)
	}
	if _, err := s.GetRefreshTokenSession(ctx, "rt2", nil); err != nil {
		t.Fatalf("successor: %v", err)
	}
	rot.AccessSignature, rot.RefreshSignature = "at3", "rt3"
	if err := s.RotateRefresh(ctx, rot); !errors.Is(err, storage.ErrTokenReused) || !errors.Is(err, fosite.ErrSerializationFailure) {
		t.Fatalf("reuse: %v", err)
	}
	for _, sig := range []string{"rt2", "rt3"} {
		if _, err := s.GetRefreshTokenSession(ctx, sig, nil); !errors.Is(err, fosite.ErrInactiveToken) && !errors.Is(err, fosite.ErrNotFound) {
			t.Fatalf("%s after reuse: %v, want inactive or gone", sig, err)
		}
	}
	for _, sig := range []string{"at2", "at3"} {
		if _, err := s.GetAccessTokenSession(ctx, sig, nil); !errors.Is(err, fosite.ErrNotFound) {
			t.Fatalf("%s after reuse: %v, want gone", sig, err)
		}
	}
}

// testConcurrentRotateRefresh: of eight concurrent RotateRefresh calls on one token exactly one
// wins, and the losers' reuse revokes the family (the winner's successor included).
func testConcurrentRotateRefresh(t *testing.T, s *storage.Store) {
	newClient(t, s, "app")
	r := newRequest(t, s, "app", "fam-cr", "alice")
	must(t, s.CreateRefreshTokenSession(ctx, "rt", "", r))
	const n = 8
	var wg sync.WaitGroup
	results := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			sig := string(rune('a' + i))
			results <- s.RotateRefresh(ctx, storage.Rotation{RequestID: "fam-cr", Presented: "rt",
				AccessSignature: "at-" + sig, Access: r, RefreshSignature: "rt-" + sig, Refresh: r})
		})
	}
	wg.Wait()
	close(results)
	wins := 0
	for err := range results {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, storage.ErrTokenReused):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d rotations won, want exactly 1", wins)
	}
	for i := range n {
		sig := "rt-" + string(rune('a'+i))
		if _, err := s.GetRefreshTokenSession(ctx, sig, nil); err == nil {
			t.Fatalf("%s active after the losers' reuse", sig)
		}
	}
}

// testRefreshReadsAccount: the refresh token read carries its user's state.
func testRefreshReadsAccount(t *testing.T, s *storage.Store) {
	newClient(t, s, "app")
	user := "u-acct"
	must(t, s.CreateUser(ctx, &storage.User{ID: user, Name: "A"}))
	r := newRequest(t, s, "app", "fam-a", user)
	must(t, s.CreateRefreshTokenSession(ctx, "rt-a", "", r))
	account := func() *session.Account {
		t.Helper()
		req, err := s.GetRefreshTokenSession(ctx, "rt-a", session.New())
		must(t, err)
		a := req.GetSession().(*session.Session).Account
		if a == nil || a.Subject != user {
			t.Fatalf("account %+v", a)
		}
		return a
	}
	if a := account(); !a.Active() {
		t.Fatalf("new user not active: %+v", a)
	}
	until := time.Now().Add(time.Hour)
	must(t, s.SetUserLockout(ctx, user, &until))
	if a := account(); !a.Locked || a.Active() {
		t.Fatalf("locked user: %+v", a)
	}
	must(t, s.SetUserLockout(ctx, user, nil))
	u, err := s.UserByID(ctx, user)
	must(t, err)
	u.Disabled = true
	must(t, s.SaveUser(ctx, u))
	if a := account(); !a.Disabled || a.Active() {
		t.Fatalf("disabled user: %+v", a)
	}
	must(t, s.DB(ctx).Delete(&storage.User{ID: user}).Error)
	if a := account(); a.Found || a.Active() {
		t.Fatalf("deleted user: %+v", a)
	}
}

// testRevocations: what stops access tokens that have no row.
func testRevocations(t *testing.T, s *storage.Store) {
	newClient(t, s, "app")
	iat := time.Now().Add(-time.Minute)
	revoked := func(jti, grant, sub string, iat time.Time) bool {
		t.Helper()
		ok, err := s.AccessTokenRevoked(ctx, jti, grant, sub, iat)
		must(t, err)
		return ok
	}
	if revoked("j1", "g1", "alice", iat) {
		t.Fatal("nothing revoked yet")
	}
	must(t, s.RevokeJWTAccessToken(ctx, "j1", time.Now().Add(time.Hour), "g1"))
	if !revoked("j1", "", "", iat) || !revoked("other", "g1", "", iat) || revoked("j2", "g2", "alice", iat) {
		t.Fatal("RFC 7009 on a JWT: its jti and its grant, nothing else")
	}
	must(t, s.RevokeAccessToken(ctx, "g3")) // a refresh token's family, a reuse, a replayed code
	if !revoked("j3", "g3", "", iat) {
		t.Fatal("grant revocation not seen")
	}
	must(t, s.RevokeFamily(ctx, "g4"))
	if !revoked("j4", "g4", "", iat) {
		t.Fatal("family revocation not seen")
	}
	must(t, s.RevokeSubject(ctx, "bob")) // a disabled user
	if !revoked("j5", "g5", "bob", iat) {
		t.Fatal("token issued before the subject's revocation still active")
	}
	if revoked("j6", "g6", "bob", time.Now().Add(2*time.Second)) {
		t.Fatal("token issued after the subject's revocation is revoked")
	}
	must(t, s.RevokeSubject(ctx, "bob")) // idempotent
}

// testStatelessAccessTokens: with StatelessAccessTokens no access token row is written, a rotation
// works without one, and reuse still revokes the family (by the revocation list).
func testStatelessAccessTokens(t *testing.T, s *storage.Store) {
	newClient(t, s, "app")
	r := newRequest(t, s, "app", "fam-s", "alice")
	must(t, s.CreateAccessTokenSession(ctx, "at-s", r))
	if _, err := s.GetAccessTokenSession(ctx, "at-s", nil); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("access token stored: %v", err)
	}
	must(t, s.CreateRefreshTokenSession(ctx, "rt-s1", "", r))
	rot := storage.Rotation{RequestID: "fam-s", Presented: "rt-s1", AccessSignature: "at-s2", Access: r, RefreshSignature: "rt-s2", Refresh: r}
	must(t, s.RotateRefresh(ctx, rot))
	if _, err := s.GetRefreshTokenSession(ctx, "rt-s2", nil); err != nil {
		t.Fatalf("successor: %v", err)
	}
	rot.RefreshSignature = "rt-s3"
	if err := s.RotateRefresh(ctx, rot); !errors.Is(err, storage.ErrTokenReused) {
		t.Fatalf("reuse: %v", err)
	}
	if ok, err := s.AccessTokenRevoked(ctx, "j", "fam-s", "", time.Now()); err != nil || !ok {
		t.Fatalf("reused family's access tokens: revoked=%v err=%v", ok, err)
	}
}
