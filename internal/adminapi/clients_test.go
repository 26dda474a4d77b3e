package adminapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lingpai/lingpai/config"
)

func TestAdminAuthentication(t *testing.T) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			r := start(t, b)
			admin, read := r.token("lingpai:admin"), r.token("lingpai:admin.read")
			other := r.token("api")
			cases := []struct {
				name, method, path, token string
				body                      any
				want                      int
			}{
				{"no token", http.MethodGet, "/admin/clients", "", nil, 401},
				{"no token, unknown path", http.MethodGet, "/admin/nothing", "", nil, 401},
				{"garbage token", http.MethodGet, "/admin/clients", "not-a-token", nil, 401},
				{"wrong scope", http.MethodGet, "/admin/clients", other, nil, 403},
				{"read-only reads", http.MethodGet, "/admin/clients", read, nil, 200},
				{"read-only cannot write", http.MethodPost, "/admin/clients", read, map[string]any{"client_id": "x", "grant_types": []string{"client_credentials"}}, 403},
				{"read-only cannot delete", http.MethodDelete, "/admin/clients/x", read, nil, 403},
				{"admin reads", http.MethodGet, "/admin/clients", admin, nil, 200},
				{"admin, unknown path", http.MethodGet, "/admin/nothing", admin, nil, 404},
				{"admin, wrong method", http.MethodPut, "/admin/users", admin, nil, 405},
				{"token in the query is not accepted", http.MethodGet, "/admin/clients?access_token=" + admin, "", nil, 401},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					resp := r.do(c.method, c.path, c.token, c.body)
					if c.want >= 400 {
						wantProblem(t, resp, c.want, "")
					} else if resp.Status != c.want {
						t.Fatalf("status %d, want %d: %s", resp.Status, c.want, resp.Raw)
					}
					if c.want == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
						t.Fatalf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
					}
				})
			}
			// Nothing was created by the refused write.
			if resp := r.do(http.MethodGet, "/admin/clients/x", admin, nil); resp.Status != 404 {
				t.Fatalf("refused create wrote a client: %d", resp.Status)
			}
			// The public address never serves the admin API.
			if resp := r.s.Do(mustReq(t, http.MethodGet, r.s.URL+"/admin/clients", admin)); resp.Status != 404 {
				t.Fatalf("public address answered /admin/clients with %d", resp.Status)
			}
			// A revoked admin token stops working at once.
			id, secret := "revoked-caller", r.s.Client("revoked-caller", []string{"client_credentials"}, []string{"lingpai:admin"})
			tok := r.s.Token(id, secret, url.Values{"grant_type": {"client_credentials"}}).Str("access_token")
			if resp := r.do(http.MethodGet, "/admin/clients", tok, nil); resp.Status != 200 {
				t.Fatalf("fresh token: %d %s", resp.Status, resp.Raw)
			}
			if resp := r.s.Post("/connect/revocation", url.Values{"token": {tok}}, id, secret); resp.Status != 200 {
				t.Fatalf("revocation: %d %s", resp.Status, resp.Raw)
			}
			wantProblem(t, r.do(http.MethodGet, "/admin/clients", tok, nil), 401, "")
			// A client whose admin scope is withdrawn loses admin access even with a live token.
			tok = r.s.Token(id, secret, url.Values{"grant_type": {"client_credentials"}}).Str("access_token")
			if resp := r.do(http.MethodPatch, "/admin/clients/"+id, admin, map[string]any{"scopes": []string{"api"}}); resp.Status != 200 {
				t.Fatalf("patch scopes: %d %s", resp.Status, resp.Raw)
			}
			wantProblem(t, r.do(http.MethodGet, "/admin/clients", tok, nil), 403, "")
		})
	}
}

func mustReq(t *testing.T, method, u, token string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}

func TestAdminClients(t *testing.T) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			r := start(t, b)
			admin := r.token("lingpai:admin")
			create := map[string]any{"client_id": "ci-pipeline", "grant_types": []string{"client_credentials"}, "scopes": []string{"api"}}
			resp := r.do(http.MethodPost, "/admin/clients", admin, create)
			if resp.Status != http.StatusCreated || resp.Str("client_secret") == "" || resp.Header.Get("ETag") == "" {
				t.Fatalf("create: %d %s", resp.Status, resp.Raw)
			}
			secret := resp.Str("client_secret")
			if tr := r.s.Token("ci-pipeline", secret, url.Values{"grant_type": {"client_credentials"}}); tr.Status != 200 {
				t.Fatalf("token for the new client: %d %s", tr.Status, tr.Raw)
			}
			wantProblem(t, r.do(http.MethodPost, "/admin/clients", admin, create), http.StatusConflict, "")

			// A chosen secret is accepted, never echoed.
			resp = r.do(http.MethodPost, "/admin/clients", admin, map[string]any{"client_id": "chosen", "client_secret": "a long chosen secret",
				"grant_types": []string{"client_credentials"}})
			if resp.Status != http.StatusCreated || resp.Str("client_secret") != "" || strings.Contains(resp.Raw, "a long chosen secret") {
				t.Fatalf("create with secret: %d %s", resp.Status, resp.Raw)
			}
			if tr := r.s.Token("chosen", "a long chosen secret", url.Values{"grant_type": {"client_credentials"}}); tr.Status != 200 {
				t.Fatalf("token with the chosen secret: %d %s", tr.Status, tr.Raw)
			}

			// GET, PATCH one field, PUT with If-Match.
			got := r.do(http.MethodGet, "/admin/clients/ci-pipeline", admin, nil)
			etag := got.Header.Get("ETag")
			if got.Status != 200 || got.Str("name") != "ci-pipeline" || etag == "" || strings.Contains(got.Raw, "secret_hash") {
				t.Fatalf("get: %d %s", got.Status, got.Raw)
			}
			resp = r.do(http.MethodPatch, "/admin/clients/ci-pipeline", admin, map[string]any{"name": "CI"})
			if resp.Status != 200 || resp.Str("name") != "CI" || resp.Body["scopes"].([]any)[0] != "api" || resp.Header.Get("ETag") == etag {
				t.Fatalf("patch: %d %s", resp.Status, resp.Raw)
			}
			wantProblem(t, r.do(http.MethodPut, "/admin/clients/ci-pipeline", admin, map[string]any{"name": "x", "grant_types": []string{"client_credentials"}},
				"If-Match", etag), http.StatusPreconditionFailed, "")
			wantProblem(t, r.do(http.MethodPut, "/admin/clients/ci-pipeline", admin, map[string]any{"name": "x", "grant_types": []string{"client_credentials"}}),
				http.StatusPreconditionRequired, "If-Match")
			etag = resp.Header.Get("ETag")
			resp = r.do(http.MethodPut, "/admin/clients/ci-pipeline", admin, map[string]any{"name": "CI 2", "grant_types": []string{"client_credentials"},
				"scopes": []string{"api", "api2"}}, "If-Match", etag)
			if resp.Status != 200 || resp.Str("name") != "CI 2" || len(resp.Body["scopes"].([]any)) != 2 {
				t.Fatalf("put: %d %s", resp.Status, resp.Raw)
			}
			// The secret survives an update.
			if tr := r.s.Token("ci-pipeline", secret, url.Values{"grant_type": {"client_credentials"}}); tr.Status != 200 {
				t.Fatalf("token after update: %d %s", tr.Status, tr.Raw)
			}

			// Delete: the client and its tokens are gone.
			if resp := r.do(http.MethodDelete, "/admin/clients/ci-pipeline", admin, nil); resp.Status != http.StatusNoContent {
				t.Fatalf("delete: %d %s", resp.Status, resp.Raw)
			}
			wantProblem(t, r.do(http.MethodGet, "/admin/clients/ci-pipeline", admin, nil), 404, "")
			wantProblem(t, r.do(http.MethodDelete, "/admin/clients/ci-pipeline", admin, nil), 404, "")
			if tr := r.s.Token("ci-pipeline", secret, url.Values{"grant_type": {"client_credentials"}}); tr.Status != 401 {
				t.Fatalf("token for a deleted client: %d %s", tr.Status, tr.Raw)
			}

			// Audit: the events name the caller and the request, never a secret.
			logs := r.s.Logs.String()
			for _, ev := range []string{"admin.client.created", "admin.client.updated", "admin.client.deleted"} {
				if !strings.Contains(logs, `"event":"`+ev+`"`) {
					t.Fatalf("no %s audit event", ev)
				}
			}
			if !strings.Contains(logs, `"admin_client_id":"caller-`) || !strings.Contains(logs, `"request_id":"`) {
				t.Fatal("audit events lack the calling client or the request id")
			}
			if r.s.Logs.Mentions(secret) || strings.Contains(logs, "a long chosen secret") {
				t.Fatal("a client secret reached the log")
			}
		})
	}
}

func TestAdminClientsPaging(t *testing.T) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			r := start(t, b)
			read := r.token("lingpai:admin.read")
			for i := range 5 {
				r.s.Client(fmt.Sprintf("page_%d", i), []string{"client_credentials"}, nil)
			}
			r.s.Client("pageXnot", []string{"client_credentials"}, nil) // '_' is not a wildcard
			var seen []string
			cursor := ""
			pages := 0
			for {
				resp := r.do(http.MethodGet, "/admin/clients?limit=2&id_prefix=page_&cursor="+url.QueryEscape(cursor), read, nil)
				if resp.Status != 200 {
					t.Fatalf("list: %d %s", resp.Status, resp.Raw)
				}
				pages++
				for _, it := range resp.Body["items"].([]any) {
					seen = append(seen, it.(map[string]any)["client_id"].(string))
				}
				if cursor = resp.Str("next_cursor"); cursor == "" {
					break
				}
			}
			want := "page_0,page_1,page_2,page_3,page_4"
			if strings.Join(seen, ",") != want || pages != 3 {
				t.Fatalf("paged %d pages: %v, want %s", pages, seen, want)
			}
			t.Logf("5 clients in %d pages of 2", pages)
			wantProblem(t, r.do(http.MethodGet, "/admin/clients?limit=0", read, nil), 400, "limit")
			wantProblem(t, r.do(http.MethodGet, "/admin/clients?cursor=%25%25", read, nil), 400, "cursor")
		})
	}
}

func TestAdminClientBadInput(t *testing.T) {
	cc := []string{"client_credentials"}
	cases := []struct {
		name  string
		body  any
		field string
	}{
		{"unknown field", map[string]any{"client_id": "bad", "grant_types": cc, "colour": "red"}, "colour"},
		{"wrong type", map[string]any{"client_id": "bad", "grant_types": "client_credentials"}, "grant_types"},
		{"not JSON", "{", "body"},
		{"no grant type", map[string]any{"client_id": "bad"}, "grant_types"},
		{"unknown grant type", map[string]any{"client_id": "bad", "grant_types": []string{"implicit"}}, "grant_types"},
		{"relative redirect URI", map[string]any{"client_id": "bad", "grant_types": []string{"authorization_code"}, "redirect_uris": []string{"/cb"}}, "redirect_uris"},
		{"redirect URI with fragment", map[string]any{"client_id": "bad", "grant_types": []string{"authorization_code"}, "redirect_uris": []string{"https://app/cb#x"}}, "redirect_uris"},
		{"unknown lingpai scope", map[string]any{"client_id": "bad", "grant_types": cc, "scopes": []string{"lingpai:root"}}, "scopes"},
		{"admin scope on a user grant", map[string]any{"client_id": "bad", "grant_types": []string{"password"}, "scopes": []string{"lingpai:admin"}}, "scopes"},
		{"bad scope token", map[string]any{"client_id": "bad", "grant_types": cc, "scopes": []string{"a\"b"}}, "scopes"},
		{"secret too short", map[string]any{"client_id": "bad", "grant_types": cc, "client_secret": "short"}, "client_secret"},
		{"bad client id", map[string]any{"client_id": "bad id", "grant_types": cc}, "client_id"},
		{"bad CORS origin", map[string]any{"client_id": "bad", "grant_types": cc, "allowed_cors_origins": []string{"https://app/"}}, "allowed_cors_origins"},
		{"public client_credentials", map[string]any{"client_id": "bad", "grant_types": cc, "public": true}, "public"},
	}
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			r := start(t, b)
			admin := r.token("lingpai:admin")
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					wantProblem(t, r.do(http.MethodPost, "/admin/clients", admin, c.body), 400, c.field)
					wantProblem(t, r.do(http.MethodGet, "/admin/clients/bad", admin, nil), 404, "")
				})
			}
			// A bad PATCH changes nothing either.
			r.s.Client("good", cc, []string{"api"})
			before := r.do(http.MethodGet, "/admin/clients/good", admin, nil)
			wantProblem(t, r.do(http.MethodPatch, "/admin/clients/good", admin, map[string]any{"name": "renamed", "grant_types": []string{"implicit"}}), 400, "grant_types")
			wantProblem(t, r.do(http.MethodPatch, "/admin/clients/good", admin, map[string]any{"name": "renamed", "secret_hash": "x"}), 400, "secret_hash")
			after := r.do(http.MethodGet, "/admin/clients/good", admin, nil)
			if after.Raw != before.Raw || after.Header.Get("ETag") != before.Header.Get("ETag") {
				t.Fatalf("a refused PATCH changed the client:\n%s\n%s", before.Raw, after.Raw)
			}
		})
	}
}

// TestAdminConcurrentPut: several PUTs carrying the same (then current) ETag race; exactly one
// wins, the rest get 412, and the stored client is the winner's.
func TestAdminConcurrentPut(t *testing.T) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			r := start(t, b)
			admin := r.token("lingpai:admin")
			r.s.Client("raced", []string{"client_credentials"}, []string{"api"})
			etag := r.do(http.MethodGet, "/admin/clients/raced", admin, nil).Header.Get("ETag")
			const n = 8
			statuses := make([]int, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					statuses[i] = r.do(http.MethodPut, "/admin/clients/raced", admin, map[string]any{"name": fmt.Sprintf("writer %d", i),
						"grant_types": []string{"client_credentials"}}, "If-Match", etag).Status
				}()
			}
			wg.Wait()
			won, stale, winner := 0, 0, -1
			for i, s := range statuses {
				switch s {
				case 200:
					won, winner = won+1, i
				case 412:
					stale++
				}
			}
			if won != 1 || stale != n-1 {
				t.Fatalf("statuses %v: want one 200 and %d 412", statuses, n-1)
			}
			if got := r.do(http.MethodGet, "/admin/clients/raced", admin, nil).Str("name"); got != fmt.Sprintf("writer %d", winner) {
				t.Fatalf("stored name %q, winner was %d", got, winner)
			}
			t.Logf("%d concurrent PUTs: 1 won, %d got 412", n, stale)
		})
	}
}

func TestAdminClientSecrets(t *testing.T) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			r := start(t, b)
			admin := r.token("lingpai:admin")
			old := r.s.Client("rotating", []string{"client_credentials"}, []string{"api"})
			cc := url.Values{"grant_type": {"client_credentials"}}
			resp := r.do(http.MethodPost, "/admin/clients/rotating/secrets", admin, map[string]any{"description": "2027 key"})
			added := resp.Str("secret")
			if resp.Status != http.StatusCreated || added == "" || resp.Str("id") == "" {
				t.Fatalf("add secret: %d %s", resp.Status, resp.Raw)
			}
			for name, s := range map[string]string{"old": old, "added": added} {
				if tr := r.s.Token("rotating", s, cc); tr.Status != 200 {
					t.Fatalf("%s secret after rotation: %d %s", name, tr.Status, tr.Raw)
				}
			}
			// A chosen secret with an expiry; one already expired is refused.
			exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
			resp = r.do(http.MethodPost, "/admin/clients/rotating/secrets", admin, map[string]any{"secret": "another chosen secret", "expires_at": exp})
			if resp.Status != http.StatusCreated || resp.Str("secret") != "" || resp.Str("expires_at") == "" {
				t.Fatalf("add chosen secret: %d %s", resp.Status, resp.Raw)
			}
			wantProblem(t, r.do(http.MethodPost, "/admin/clients/rotating/secrets", admin,
				map[string]any{"expires_at": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}), 400, "expires_at")
			wantProblem(t, r.do(http.MethodPost, "/admin/clients/rotating/secrets", admin, map[string]any{"secret": "short"}), 400, "secret")
			wantProblem(t, r.do(http.MethodPost, "/admin/clients/nobody/secrets", admin, map[string]any{}), 404, "")
			got := r.do(http.MethodGet, "/admin/clients/rotating", admin, nil)
			if n := len(got.Body["secrets"].([]any)); n != 2 || strings.Contains(got.Raw, added) {
				t.Fatalf("client shows %d secrets (want 2, none in clear): %s", n, got.Raw)
			}
			// Removing the added secret: it stops working, the original keeps working.
			id := got.Body["secrets"].([]any)[0].(map[string]any)["id"].(string)
			if d := r.do(http.MethodDelete, "/admin/clients/rotating/secrets/"+id, admin, nil); d.Status != http.StatusNoContent {
				t.Fatalf("delete secret: %d %s", d.Status, d.Raw)
			}
			wantProblem(t, r.do(http.MethodDelete, "/admin/clients/rotating/secrets/"+id, admin, nil), 404, "")
			okCount := 0
			for _, s := range []string{added, "another chosen secret"} {
				if r.s.Token("rotating", s, cc).Status == 200 {
					okCount++
				}
			}
			if okCount != 1 || r.s.Token("rotating", old, cc).Status != 200 {
				t.Fatalf("after removing one of two added secrets, %d of them work (want 1), and the original must", okCount)
			}
			if r.s.Logs.Mentions(added) {
				t.Fatal("a generated secret reached the log")
			}
		})
	}
}

// TestAdminClientAtReplica: a client created through the API at one replica gets tokens at once
// at another, even with a client cache (the cache holds found clients only).
func TestAdminClientAtReplica(t *testing.T) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			r := start(t, b, func(c *config.Config) { c.Server.CacheTTL = time.Minute })
			replica := r.s.Replica()
			admin := r.token("lingpai:admin")
			// The replica has looked the client up (and not found it) before it exists.
			if tr := replica.Token("new-at-a", "whatever-secret-x", url.Values{"grant_type": {"client_credentials"}}); tr.Status != 401 {
				t.Fatalf("unknown client at replica: %d", tr.Status)
			}
			resp := r.do(http.MethodPost, "/admin/clients", admin, map[string]any{"client_id": "new-at-a", "grant_types": []string{"client_credentials"}})
			if resp.Status != http.StatusCreated {
				t.Fatalf("create: %d %s", resp.Status, resp.Raw)
			}
			if tr := replica.Token("new-at-a", resp.Str("client_secret"), url.Values{"grant_type": {"client_credentials"}}); tr.Status != 200 {
				t.Fatalf("new client at the other replica: %d %s", tr.Status, tr.Raw)
			}
		})
	}
}
