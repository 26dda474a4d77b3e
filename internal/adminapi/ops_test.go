package adminapi_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/lingpai/lingpai/internal/throttle"
)

func TestAdminKeys(t *testing.T) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			r := start(t, b)
			admin, read := r.token("lingpai:admin"), r.token("lingpai:admin.read")
			list := r.do(http.MethodGet, "/admin/keys", read, nil)
			items := list.Body["items"].([]any)
			if list.Status != 200 || len(items) == 0 {
				t.Fatalf("keys: %d %s", list.Status, list.Raw)
			}
			first := items[0].(map[string]any)["kid"].(string)
			wantProblem(t, r.do(http.MethodPost, "/admin/keys/rotate", read, nil), 403, "")
			rot := r.do(http.MethodPost, "/admin/keys/rotate", admin, nil)
			if rot.Status != http.StatusCreated || rot.Str("kid") == first {
				t.Fatalf("rotate: %d %s", rot.Status, rot.Raw)
			}
			// The admin token signed by the old key still verifies (the old key is only retired).
			after := r.do(http.MethodGet, "/admin/keys", admin, nil).Body["items"].([]any)
			statuses := map[string]string{}
			for _, it := range after {
				m := it.(map[string]any)
				statuses[m["kid"].(string)] = m["status"].(string)
			}
			if statuses[first] != "retired" || statuses[rot.Str("kid")] != "active" {
				t.Fatalf("after rotation: %v", statuses)
			}
			// New tokens carry the new kid.
			ret := r.do(http.MethodPost, "/admin/keys/"+rot.Str("kid")+"/retire", admin, nil)
			if ret.Status != 200 || ret.Str("kid") == rot.Str("kid") {
				t.Fatalf("retire: %d %s", ret.Status, ret.Raw)
			}
			wantProblem(t, r.do(http.MethodPost, "/admin/keys/"+first+"/retire", admin, nil), http.StatusConflict, "")
			wantProblem(t, r.do(http.MethodPost, "/admin/keys/nope/retire", admin, nil), http.StatusNotFound, "")
			fresh := r.token("lingpai:admin.read")
			if resp := r.do(http.MethodGet, "/admin/keys", fresh, nil); resp.Status != 200 {
				t.Fatalf("token signed by the new key: %d %s", resp.Status, resp.Raw)
			}
		})
	}
}

func TestAdminTokensAndLocks(t *testing.T) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			r := start(t, b)
			admin, read := r.token("lingpai:admin"), r.token("lingpai:admin.read")
			secret := r.s.Client("app", []string{"password", "refresh_token", "client_credentials"}, []string{"offline_access", "api1"})
			r.s.User("dora", "explorer-2026")
			pw := url.Values{"grant_type": {"password"}, "username": {"dora"}, "password": {"explorer-2026"}, "scope": {"offline_access"}}

			// By token: the refresh token's whole grant dies.
			tok := r.s.Token("app", secret, pw)
			resp := r.do(http.MethodPost, "/admin/tokens/revoke", admin, map[string]any{"token": tok.Str("refresh_token")})
			if resp.Status != 200 || resp.Body["revoked"] != true {
				t.Fatalf("revoke by token: %d %s", resp.Status, resp.Raw)
			}
			if tr := r.s.Token("app", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.Str("refresh_token")}}); tr.Status != 400 {
				t.Fatalf("revoked refresh token worked: %d %s", tr.Status, tr.Raw)
			}
			if resp := r.do(http.MethodPost, "/admin/tokens/revoke", admin, map[string]any{"token": "unknown"}); resp.Status != 200 || resp.Body["revoked"] != false {
				t.Fatalf("unknown token: %d %s", resp.Status, resp.Raw)
			}
			wantProblem(t, r.do(http.MethodPost, "/admin/tokens/revoke", admin, map[string]any{}), 400, "token")

			// By client: every token of the client dies.
			tok = r.s.Token("app", secret, pw)
			resp = r.do(http.MethodDelete, "/admin/clients/app/tokens", admin, nil)
			if resp.Status != 200 || resp.Body["revoked"].(float64) < 2 {
				t.Fatalf("revoke by client: %d %s", resp.Status, resp.Raw)
			}
			if tr := r.s.Token("app", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.Str("refresh_token")}}); tr.Status != 400 {
				t.Fatalf("refresh token of a revoked client worked: %d %s", tr.Status, tr.Raw)
			}
			wantProblem(t, r.do(http.MethodDelete, "/admin/clients/nobody/tokens", admin, nil), 404, "")

			// Locks: list, clear.
			bad := url.Values{"grant_type": {"password"}, "username": {"dora"}, "password": {"wrong-password"}}
			for range r.s.Config.Throttle.MaxFailures + 1 {
				r.s.Token("app", secret, bad)
			}
			locks := r.do(http.MethodGet, "/admin/throttle/locks", read, nil)
			items := locks.Body["items"].([]any)
			key := ""
			for _, it := range items {
				// Keys are hashes of the account (throttle.AccountKeys), fixed-length whatever the input.
				if k := it.(map[string]any)["key"].(string); k == throttle.AccountKeys("pwd:dora")[0] {
					key = k
				}
			}
			if key == "" {
				t.Fatalf("no lock for dora: %s", locks.Raw)
			}
			wantProblem(t, r.do(http.MethodDelete, "/admin/throttle/locks/"+url.PathEscape(key), read, nil), 403, "")
			if d := r.do(http.MethodDelete, "/admin/throttle/locks/"+url.PathEscape(key), admin, nil); d.Status != http.StatusNoContent {
				t.Fatalf("clear lock: %d %s", d.Status, d.Raw)
			}
			if tr := r.s.Token("app", secret, pw); tr.Status != 200 {
				t.Fatalf("sign-in after the lock was cleared: %d %s", tr.Status, tr.Raw)
			}
			wantProblem(t, r.do(http.MethodDelete, "/admin/throttle/locks/"+url.PathEscape(key), admin, nil), 404, "")
		})
	}
}

func TestAdminOpenAPIServed(t *testing.T) {
	r := start(t, "sqlite")
	resp := r.do(http.MethodGet, "/admin/openapi.json", r.token("lingpai:admin.read"), nil)
	if resp.Status != 200 || resp.Str("openapi") != "3.1.0" {
		t.Fatalf("openapi.json: %d %.200s", resp.Status, resp.Raw)
	}
	wantProblem(t, r.do(http.MethodGet, "/admin/openapi.json", "", nil), 401, "")
}
