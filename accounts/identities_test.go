package accounts_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/accounts"
	wechatgrant "github.com/lingpai/lingpai/grants/wechat"
	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/internal/throttle"
	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/storagetest"
)

func newService(t *testing.T, st *storage.Store) *accounts.Service {
	t.Helper()
	reg := throttle.New(st, throttle.Options{MaxFailures: 5, IPMaxFailures: 50}, nil)
	svc, err := accounts.New(st, hashing.Hasher{}, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func countUsers(t *testing.T, st *storage.Store) int {
	t.Helper()
	users, err := st.ListUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(users)
}

// TestResolveConcurrentFirstSignIn: simultaneous first sign-ins of one new person all succeed with
// the same subject, and exactly one user is created (the losers' users roll back).
func TestResolveConcurrentFirstSignIn(t *testing.T) {
	const n = 10
	cases := []struct {
		name string
		ext  accounts.External
	}{
		{"wechat unionid and openid", wechatgrant.External("wx-app", "openid-1", "unionid-1")},
		{"wechat openid only", wechatgrant.External("wx-app", "openid-2", "")},
		{"ldap with a profile", accounts.External{Provider: "ldap", Subject: "guid-1", Claims: map[string]any{"name": "Alice"},
			Profile: accounts.NewProfile{Name: "Alice", Email: "alice@corp.example"}}},
	}
	for _, b := range storagetest.Backends() {
		for _, tc := range cases {
			t.Run(b.Name+"/"+tc.name, func(t *testing.T) {
				st := b.Open(t, storage.Options{MaxOpenConns: 2 * n})
				svc := newService(t, st)
				ctx := context.Background()
				subs := make([]string, n)
				errs := make([]error, n)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						<-start
						u, err := svc.Resolve(ctx, tc.ext, true)
						if err == nil {
							subs[i] = u.ID
						}
						errs[i] = err
					})
				}
				close(start)
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Fatalf("sign-in %d: %v", i, err)
					}
					if subs[i] != subs[0] {
						t.Fatalf("one person, several subjects: %v", subs)
					}
				}
				if got := countUsers(t, st); got != 1 {
					t.Fatalf("%d users, want 1", got)
				}
				ids, err := st.IdentitiesOf(ctx, subs[0])
				if err != nil {
					t.Fatal(err)
				}
				if want := 1 + len(tc.ext.Also); len(ids) != want {
					t.Fatalf("%d identities linked, want %d", len(ids), want)
				}
				// And the next sign-in finds the same user.
				if u, err := svc.Resolve(ctx, tc.ext, false); err != nil || u.ID != subs[0] {
					t.Fatalf("later sign-in: %v %v", u, err)
				}
			})
		}
	}
}

// TestLinkExistingAllOrNothing: lingpai user link-wechat links every pair of an identity or none.
func TestLinkExistingAllOrNothing(t *testing.T) {
	cases := []struct {
		name       string
		username   string
		ext        accounts.External
		wantErr    error
		wantLinked bool // the unionid ends up linked to alice
	}{
		{"new identity", "alice", wechatgrant.External("wx-app", "openid-new", "unionid-new"), nil, true},
		{"linked already to her", "alice", wechatgrant.External("wx-app", "openid-alice", "unionid-alice"), nil, true},
		{"openid is another user's", "Alice", wechatgrant.External("wx-app", "openid-bob", "unionid-new"), storage.ErrUserExists, false},
		{"unionid is another user's", "alice", wechatgrant.External("wx-app", "openid-new", "unionid-bob"), storage.ErrUserExists, false},
		{"no such user", "nobody", wechatgrant.External("wx-app", "openid-new", "unionid-new"), fosite.ErrNotFound, false},
	}
	for _, b := range storagetest.Backends() {
		for _, tc := range cases {
			t.Run(b.Name+"/"+tc.name, func(t *testing.T) {
				st := b.Open(t, storage.Options{})
				svc := newService(t, st)
				ctx := context.Background()
				alice, err := svc.CreateUser(ctx, accounts.NewUser{Username: "alice"})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := svc.CreateUser(ctx, accounts.NewUser{Username: "bob"}); err != nil {
					t.Fatal(err)
				}
				for user, ext := range map[string]accounts.External{
					"alice": wechatgrant.External("wx-app", "openid-alice", "unionid-alice"),
					"bob":   wechatgrant.External("wx-app", "openid-bob", "unionid-bob"),
				} {
					if err := svc.LinkExisting(ctx, user, ext); err != nil {
						t.Fatal(err)
					}
				}
				before, err := st.IdentitiesOf(ctx, alice.ID)
				if err != nil {
					t.Fatal(err)
				}

				err = svc.LinkExisting(ctx, tc.username, tc.ext)
				if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, want %v", err, tc.wantErr)
				}
				after, err := st.IdentitiesOf(ctx, alice.ID)
				if err != nil {
					t.Fatal(err)
				}
				if !tc.wantLinked {
					if len(after) != len(before) {
						t.Fatalf("a failed link left %d identities on alice, had %d", len(after), len(before))
					}
					return
				}
				for _, e := range append([]accounts.External{tc.ext}, tc.ext.Also...) {
					id, err := st.IdentityOf(ctx, e.Provider, e.Subject)
					if err != nil || id.UserID != alice.ID {
						t.Fatalf("%s %s: %+v %v", e.Provider, e.Subject, id, err)
					}
				}
			})
		}
	}
}
