package adminapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestAdminUsers(t *testing.T) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			r := start(t, b)
			admin, read := r.token("lingpai:admin"), r.token("lingpai:admin.read")
			resp := r.do(http.MethodPost, "/admin/users", admin, map[string]any{"username": "Alice", "password": "wonderland-2026",
				"phone_number": "13800138000", "email": "alice@example.com", "name": "Alice"})
			if resp.Status != http.StatusCreated || resp.Str("username") != "alice" || resp.Str("phone_number") != "+8613800138000" ||
				strings.Contains(resp.Raw, "wonderland") || strings.Contains(resp.Raw, "password_hash") {
				t.Fatalf("create: %d %s", resp.Status, resp.Raw)
			}
			sub := resp.Str("sub")
			wantProblem(t, r.do(http.MethodPost, "/admin/users", admin, map[string]any{"username": "alice", "password": "another-pass-1"}), http.StatusConflict, "")
			wantProblem(t, r.do(http.MethodPost, "/admin/users", read, map[string]any{"username": "bob"}), http.StatusForbidden, "")

			// Bad input names the field and writes nothing.
			for _, c := range []struct {
				body  map[string]any
				field string
			}{
				{map[string]any{"username": "bob", "phone_number": "12"}, "phone_number"},
				{map[string]any{"username": "bob", "password": "short"}, "password"},
				{map[string]any{"username": "bob", "email": "no-at-sign"}, "email"},
				{map[string]any{"username": "bob", "role": "admin"}, "role"},
				{map[string]any{"name": "nobody"}, "username"},
			} {
				wantProblem(t, r.do(http.MethodPost, "/admin/users", admin, c.body), 400, c.field)
			}
			if list := r.do(http.MethodGet, "/admin/users?username=bob", read, nil); len(list.Body["items"].([]any)) != 0 {
				t.Fatalf("a refused create wrote a user: %s", list.Raw)
			}

			// Search by each key.
			for _, q := range []string{"username=ali", "phone_number=%2B86%20138%200013%208000", "email=alice%40", "sub=" + sub} {
				list := r.do(http.MethodGet, "/admin/users?"+q, read, nil)
				items, _ := list.Body["items"].([]any)
				if list.Status != 200 || len(items) != 1 || items[0].(map[string]any)["sub"] != sub {
					t.Fatalf("search %s: %d %s", q, list.Status, list.Raw)
				}
			}
			wantProblem(t, r.do(http.MethodGet, "/admin/users?phone_number=12", read, nil), 400, "phone_number")

			// Paging.
			for i := range 3 {
				r.do(http.MethodPost, "/admin/users", admin, map[string]any{"username": fmt.Sprintf("pager%d", i)})
			}
			seen, cursor, pages := 0, "", 0
			for {
				list := r.do(http.MethodGet, "/admin/users?username=pager&limit=2&cursor="+url.QueryEscape(cursor), read, nil)
				pages++
				seen += len(list.Body["items"].([]any))
				if cursor = list.Str("next_cursor"); cursor == "" {
					break
				}
			}
			if seen != 3 || pages != 2 {
				t.Fatalf("paging: %d users in %d pages", seen, pages)
			}

			// PATCH, password, identities, consents, sessions.
			resp = r.do(http.MethodPatch, "/admin/users/"+sub, admin, map[string]any{"name": "Alice Liddell"})
			if resp.Status != 200 || resp.Str("name") != "Alice Liddell" || resp.Str("email") != "alice@example.com" {
				t.Fatalf("patch: %d %s", resp.Status, resp.Raw)
			}
			wantProblem(t, r.do(http.MethodPatch, "/admin/users/"+sub, admin, map[string]any{"phone_number": "abc"}), 400, "phone_number")
			if got := r.do(http.MethodGet, "/admin/users/"+sub, read, nil); got.Str("phone_number") != "+8613800138000" {
				t.Fatalf("a refused patch changed the phone: %s", got.Raw)
			}
			if p := r.do(http.MethodPut, "/admin/users/"+sub+"/password", admin, map[string]any{"password": "looking-glass-2027"}); p.Status != http.StatusNoContent {
				t.Fatalf("set password: %d %s", p.Status, p.Raw)
			}
			for _, path := range []string{"/identities", "/consents", "/sessions"} {
				if l := r.do(http.MethodGet, "/admin/users/"+sub+path, read, nil); l.Status != 200 || l.Body["items"] == nil {
					t.Fatalf("%s: %d %s", path, l.Status, l.Raw)
				}
			}
			wantProblem(t, r.do(http.MethodGet, "/admin/users/nobody", read, nil), 404, "")
			if strings.Contains(r.s.Logs.String(), "looking-glass-2027") || strings.Contains(r.s.Logs.String(), "wonderland-2026") {
				t.Fatal("a password reached the log")
			}
			if d := r.do(http.MethodDelete, "/admin/users/"+sub, admin, nil); d.Status != http.StatusNoContent {
				t.Fatalf("delete: %d %s", d.Status, d.Raw)
			}
			wantProblem(t, r.do(http.MethodGet, "/admin/users/"+sub, read, nil), 404, "")
		})
	}
}

// TestAdminDisableUser: a user disabled through the API cannot sign in, and their refresh tokens
// are dead; enabled again, they can. Unlock clears a lockout from failed sign-ins.
func TestAdminDisableUser(t *testing.T) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			r := start(t, b)
			admin := r.token("lingpai:admin")
			secret := r.s.Client("app", []string{"password", "refresh_token"}, []string{"openid", "offline_access", "api1"})
			u := r.s.User("carol", "through-the-glass")
			pw := url.Values{"grant_type": {"password"}, "username": {"carol"}, "password": {"through-the-glass"}, "scope": {"openid offline_access"}}
			first := r.s.Token("app", secret, pw)
			if first.Status != 200 || first.Str("refresh_token") == "" {
				t.Fatalf("sign-in: %d %s", first.Status, first.Raw)
			}
			if d := r.do(http.MethodPost, "/admin/users/"+u.ID+"/disable", admin, nil); d.Status != 200 || d.Body["disabled"] != true {
				t.Fatalf("disable: %d %s", d.Status, d.Raw)
			}
			if tr := r.s.Token("app", secret, pw); tr.Status != 400 || tr.Str("error") != "invalid_grant" {
				t.Fatalf("disabled user signed in: %d %s", tr.Status, tr.Raw)
			}
			refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.Str("refresh_token")}}
			if tr := r.s.Token("app", secret, refresh); tr.Status != 400 {
				t.Fatalf("disabled user's refresh token worked: %d %s", tr.Status, tr.Raw)
			}
			if e := r.do(http.MethodPost, "/admin/users/"+u.ID+"/enable", admin, nil); e.Status != 200 || e.Body["disabled"] != false {
				t.Fatalf("enable: %d %s", e.Status, e.Raw)
			}
			if tr := r.s.Token("app", secret, pw); tr.Status != 200 {
				t.Fatalf("re-enabled user cannot sign in: %d %s", tr.Status, tr.Raw)
			}
			if n := r.do(http.MethodDelete, "/admin/users/"+u.ID+"/tokens", admin, nil); n.Status != 200 || n.Body["revoked"].(float64) < 1 {
				t.Fatalf("revoke tokens: %d %s", n.Status, n.Raw)
			}

			// Lock the account with wrong passwords, then unlock it through the API.
			bad := url.Values{"grant_type": {"password"}, "username": {"carol"}, "password": {"wrong-password"}}
			for range r.s.Config.Throttle.MaxFailures + 1 {
				r.s.Token("app", secret, bad)
			}
			if tr := r.s.Token("app", secret, pw); tr.Status == 200 {
				t.Fatal("the account did not lock")
			}
			if got := r.do(http.MethodGet, "/admin/users/"+u.ID, admin, nil); got.Body["locked_until"] == nil {
				t.Fatalf("lock not shown: %s", got.Raw)
			}
			if un := r.do(http.MethodPost, "/admin/users/"+u.ID+"/unlock", admin, nil); un.Status != 200 || un.Body["was_locked"] != true {
				t.Fatalf("unlock: %d %s", un.Status, un.Raw)
			}
			if tr := r.s.Token("app", secret, pw); tr.Status != 200 {
				t.Fatalf("unlocked user cannot sign in: %d %s", tr.Status, tr.Raw)
			}
		})
	}
}
