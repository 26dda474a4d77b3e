package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
)

func scrape(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMetrics(t *testing.T) {
	s := lingpaitest.Start(t, "sqlite", nil)
	secret := s.Client("svc", []string{"client_credentials"}, []string{"api1"})
	cc := url.Values{"grant_type": {"client_credentials"}}
	if r := s.Token("svc", secret, cc); r.Status != 200 {
		t.Fatal(r.Raw)
	}
	s.Token("ghost-client-from-user-input", "x", cc)
	s.Token("svc", secret, url.Values{"grant_type": {"urn:attacker-chosen-grant"}})
	s.Do(mustReq(t, http.MethodGet, s.URL+"/attacker/chosen/path/123", "", ""))

	admin := httptest.NewServer(s.App.AdminHandler)
	defer admin.Close()
	status, body := scrape(t, admin.URL+"/metrics")
	if status != 200 {
		t.Fatalf("/metrics: %d", status)
	}
	tests := []struct {
		name    string
		want    string
		present bool
	}{
		{"issued by grant and client", `lingpai_tokens_issued_total{client_id="svc",grant_type="client_credentials"} 1`, true},
		{"failure by code", `lingpai_token_failures_total{error="invalid_client",grant_type="client_credentials"} 1`, true},
		{"unknown grant bounded", `lingpai_token_failures_total{error="unsupported_grant_type",grant_type="other"} 1`, true},
		{"route template", `lingpai_http_requests_total{method="POST",route="/connect/token",status="200"} 1`, true},
		{"unmatched paths share a label", `route="unmatched",status="404"`, true},
		{"latency histogram", `lingpai_http_request_duration_seconds_bucket{route="/connect/token"`, true},
		{"db pool stats", `go_sql_open_connections{db_name="lingpai"}`, true},
		{"no raw path", "/attacker/chosen/path", false},
		{"no user-chosen grant type", "urn:attacker-chosen-grant", false},
		{"no unauthenticated client id", "ghost-client-from-user-input", false},
		{"no secret", secret, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.Contains(body, tt.want) != tt.present {
				t.Fatalf("%q present=%v, want %v", tt.want, !tt.present, tt.present)
			}
		})
	}
}

func TestMetricsOnAdminAddressOnly(t *testing.T) {
	off := lingpaitest.Start(t, "sqlite", func(c *config.Config) { c.Server.AdminAddr = "" })
	if status, _ := scrape(t, off.URL+"/metrics"); status != http.StatusNotFound || off.App.AdminHandler != nil {
		t.Fatalf("public /metrics with server.admin_addr empty: %d, want 404", status)
	}
	s := lingpaitest.Start(t, "sqlite", func(c *config.Config) { c.Server.AdminAddr = "127.0.0.1:0" })
	if status, _ := scrape(t, s.URL+"/metrics"); status != http.StatusNotFound {
		t.Fatalf("public /metrics: %d, want 404 when server.admin_addr is set", status)
	}
	if s.App.AdminHandler == nil {
		t.Fatal("no admin handler")
	}
	admin := httptest.NewServer(s.App.AdminHandler)
	defer admin.Close()
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		if status, _ := scrape(t, admin.URL+path); status != 200 {
			t.Fatalf("admin %s: %d", path, status)
		}
	}
}
