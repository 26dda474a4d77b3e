package adminapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
)

var backends = []string{"sqlite", "mysql"}

// rig is a lingpai with its admin listener, and helpers to call /admin/ with a bearer token.
type rig struct {
	t     *testing.T
	s     *lingpaitest.Server
	admin *httptest.Server
	n     atomic.Int64
}

func start(t *testing.T, backend string, configure ...func(*config.Config)) *rig {
	t.Helper()
	s := lingpaitest.Start(t, backend, func(c *config.Config) {
		c.Server.AdminAddr = "127.0.0.1:0"
		for _, f := range configure {
			f(c)
		}
	})
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.App.AdminHandler.ServeHTTP(w, r) // App changes on Restart
	}))
	t.Cleanup(admin.Close)
	return &rig{t: t, s: s, admin: admin}
}

// token registers a client_credentials client allowed scopes and returns an access token for it.
func (r *rig) token(scopes ...string) string {
	r.t.Helper()
	id := "caller-" + strings.ReplaceAll(strings.Join(scopes, "_"), ":", "-") + "-" + string(rune('a'+r.n.Add(1)))
	secret := r.s.Client(id, []string{"client_credentials"}, scopes)
	resp := r.s.Token(id, secret, url.Values{"grant_type": {"client_credentials"}})
	if resp.Status != http.StatusOK {
		r.t.Fatalf("admin token: %d %s", resp.Status, resp.Raw)
	}
	return resp.Str("access_token")
}

// do calls the admin API; body, when not nil, is sent as JSON (a string is sent as is).
func (r *rig) do(method, path, token string, body any, header ...string) *lingpaitest.Response {
	r.t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			r.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, r.admin.URL+path, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp := r.s.Do(req)
	validate(r.t, req, rd, resp) // every admin exchange the suite makes is checked against the OpenAPI document
	return resp
}

// wantProblem asserts an RFC 9457 answer with status (and field, when not empty).
func wantProblem(t *testing.T, resp *lingpaitest.Response, status int, field string) {
	t.Helper()
	if resp.Status != status {
		t.Fatalf("status %d, want %d: %s", resp.Status, status, resp.Raw)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json: %s", ct, resp.Raw)
	}
	if int(resp.Body["status"].(float64)) != status || resp.Str("title") == "" {
		t.Fatalf("problem body %s", resp.Raw)
	}
	if field != "" && resp.Str("field") != field {
		t.Fatalf("problem field %q, want %q: %s", resp.Str("field"), field, resp.Raw)
	}
}
