package server_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
)

// TestUnstoredAccessTokensRevocation: with tokens.store_access_tokens false no access token row
// is written, and every revocation still ends the access tokens it names at introspection, on
// SQLite, MySQL and PostgreSQL.
func TestUnstoredAccessTokensRevocation(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, u *unstored)
	}{
		{"RFC 7009 on the access token ends it alone", func(t *testing.T, u *unstored) {
			at1, at2 := u.cc(), u.cc()
			u.wantActive(at1, true)
			u.revoke(at1, "access_token")
			u.wantActive(at1, false)
			u.wantActive(at2, true) // another grant of the same client
		}},
		{"revoking the refresh token ends its access tokens", func(t *testing.T, u *unstored) {
			at, rt := u.password()
			u.wantActive(at, true)
			u.revoke(rt, "refresh_token")
			u.wantActive(at, false)
			if r := u.refresh(rt); r.Status != http.StatusBadRequest {
				t.Fatalf("refresh with a revoked token: %d %s", r.Status, r.Raw)
			}
		}},
		{"reuse revokes the family, the new access token included", func(t *testing.T, u *unstored) {
			at1, rt1 := u.password()
			r := u.refresh(rt1)
			if r.Status != http.StatusOK {
				t.Fatalf("refresh: %d %s", r.Status, r.Raw)
			}
			at2, rt2 := r.Str("access_token"), r.Str("refresh_token")
			u.wantActive(at1, true) // as IdentityServer4: a refresh does not end the previous JWT
			u.wantActive(at2, true)
			if r := u.refresh(rt1); r.Status != http.StatusBadRequest {
				t.Fatalf("reuse: %d %s", r.Status, r.Raw)
			}
			u.wantActive(at1, false)
			u.wantActive(at2, false)
			if r := u.refresh(rt2); r.Status != http.StatusBadRequest {
				t.Fatalf("successor after reuse: %d %s", r.Status, r.Raw)
			}
		}},
		{"userinfo accepts the token until it is revoked", func(t *testing.T, u *unstored) {
			r := u.s.Token("app", u.secret, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-password"}, "scope": {"openid api"}})
			if r.Status != http.StatusOK {
				t.Fatalf("password: %d %s", r.Status, r.Raw)
			}
			at := r.Str("access_token")
			userinfo := func() *lingpaitest.Response {
				req, err := http.NewRequest(http.MethodGet, u.s.URL+"/connect/userinfo", nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer "+at)
				return u.s.Do(req)
			}
			if r := userinfo(); r.Status != http.StatusOK || r.Str("sub") != u.userID {
				t.Fatalf("userinfo: %d %s", r.Status, r.Raw)
			}
			u.revoke(at, "access_token")
			if r := userinfo(); r.Status != http.StatusUnauthorized {
				t.Fatalf("userinfo with a revoked token: %d %s", r.Status, r.Raw)
			}
		}},
		{"disabling the user ends its access tokens, also once enabled again", func(t *testing.T, u *unstored) {
			at, _ := u.password()
			u.wantActive(at, true)
			ctx := context.Background()
			user, err := u.s.Store.UserByID(ctx, u.userID)
			if err != nil {
				t.Fatal(err)
			}
			user.Disabled = true
			if err := u.s.Store.SaveUser(ctx, user); err != nil {
				t.Fatal(err)
			}
			if err := u.s.Store.RevokeSubject(ctx, user.ID); err != nil { // what manage and the admin API do
				t.Fatal(err)
			}
			u.wantActive(at, false)
			user.Disabled = false
			if err := u.s.Store.SaveUser(ctx, user); err != nil {
				t.Fatal(err)
			}
			u.wantActive(at, false)
			// A token issued in the second of a disable counts as issued before it (iat has
			// seconds only): the next case's tokens are issued a second later.
			time.Sleep(time.Second)
		}},
		{"another client's revocation revokes nothing", func(t *testing.T, u *unstored) {
			at := u.cc()
			other := u.s.Client("other", []string{"client_credentials"}, []string{"api"})
			if r := u.s.Post("/connect/revocation", url.Values{"token": {at}}, "other", other); r.Status != http.StatusOK {
				t.Fatalf("revocation: %d %s", r.Status, r.Raw)
			}
			u.wantActive(at, true)
		}},
	}
	for _, backend := range []string{"sqlite", "mysql", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			s := lingpaitest.Start(t, backend, func(c *config.Config) { c.Tokens.StoreAccessTokens = false })
			secret := s.Client("app", []string{"client_credentials", "password", "refresh_token"}, []string{"openid", "api", "offline_access"})
			user := s.User("alice", "alice-password")
			u := &unstored{t: t, s: s, secret: secret, userID: user.ID}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) { u.t = t; tc.run(t, u) })
			}
			var rows int64
			if err := s.Store.DB(context.Background()).Table("access_tokens").Count(&rows).Error; err != nil || rows != 0 {
				t.Fatalf("access_tokens rows: %d (%v), want none", rows, err)
			}
		})
	}
}

type unstored struct {
	t      *testing.T
	s      *lingpaitest.Server
	secret string
	userID string
}

func (u *unstored) cc() string {
	u.t.Helper()
	r := u.s.Token("app", u.secret, url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}})
	if r.Status != http.StatusOK {
		u.t.Fatalf("client_credentials: %d %s", r.Status, r.Raw)
	}
	return r.Str("access_token")
}

func (u *unstored) password() (at, rt string) {
	u.t.Helper()
	r := u.s.Token("app", u.secret, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-password"}, "scope": {"api offline_access"}})
	if r.Status != http.StatusOK || r.Str("refresh_token") == "" {
		u.t.Fatalf("password: %d %s", r.Status, r.Raw)
	}
	return r.Str("access_token"), r.Str("refresh_token")
}

func (u *unstored) refresh(rt string) *lingpaitest.Response {
	return u.s.Token("app", u.secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

func (u *unstored) revoke(tok, hint string) {
	u.t.Helper()
	if r := u.s.Post("/connect/revocation", url.Values{"token": {tok}, "token_type_hint": {hint}}, "app", u.secret); r.Status != http.StatusOK {
		u.t.Fatalf("revocation: %d %s", r.Status, r.Raw)
	}
}

func (u *unstored) wantActive(tok string, want bool) {
	u.t.Helper()
	r := u.s.Post("/connect/introspect", url.Values{"token": {tok}}, "app", u.secret)
	if r.Status != http.StatusOK {
		u.t.Fatalf("introspection: %d %s", r.Status, r.Raw)
	}
	if got, _ := r.Body["active"].(bool); got != want {
		u.t.Fatalf("active = %v, want %v: %s", got, want, r.Raw)
	}
}
