package pingrant_test

import (
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/examples/pingrant"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
	"github.com/lingpai/lingpai/server"
)

// TestPinGrant runs README's example grant through the real server.
func TestPinGrant(t *testing.T) {
	for _, backend := range []string{"sqlite", "mysql"} {
		t.Run(backend, func(t *testing.T) {
			s := lingpaitest.Start(t, backend, func(c *config.Config) {
				c.Grants.Enabled = append(c.Grants.Enabled, "pin")
				c.Throttle.MaxFailures = 3
			}, server.WithGrant(pingrant.Grant{PINs: map[string]string{"kiosk1": "4321"}}))
			secret := s.Client("kiosk", []string{"pin", "refresh_token"}, []string{"openid", "offline_access"})
			nopin := s.Client("other", []string{"client_credentials"}, []string{"api1"})
			pin := func(user, p string) url.Values {
				return url.Values{"grant_type": {"pin"}, "username": {user}, "pin": {p}}
			}
			ok := s.Token("kiosk", secret, pin("kiosk1", "4321"))
			if ok.Status != 200 || ok.Str("id_token") == "" || ok.Str("refresh_token") == "" {
				t.Fatalf("pin sign-in: %d %s", ok.Status, ok.Raw)
			}
			// Refresh, introspection and revocation work on a custom grant's tokens as on fosite's.
			ref := s.Token("kiosk", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ok.Str("refresh_token")}})
			if ref.Status != 200 || ref.Str("id_token") == "" {
				t.Fatalf("refresh of a pin token: %d %s", ref.Status, ref.Raw)
			}
			in := s.Post("/connect/introspect", url.Values{"token": {ref.Str("access_token")}}, "kiosk", secret)
			if in.Body["active"] != true || in.Str("sub") != "pin-kiosk1" {
				t.Fatalf("introspect: %s", in.Raw)
			}
			tests := []struct {
				name, client, secret string
				form                 url.Values
				status               int
				code                 string
			}{
				{"client without the grant", "other", nopin, pin("kiosk1", "4321"), 400, "unauthorized_client"},
				{"missing pin", "kiosk", secret, url.Values{"grant_type": {"pin"}, "username": {"kiosk1"}}, 400, "invalid_request"},
				{"wrong pin", "kiosk", secret, pin("kiosk1", "0000"), 400, "invalid_grant"},
				{"scope not allowed", "kiosk", secret, url.Values{"grant_type": {"pin"}, "username": {"kiosk1"}, "pin": {"4321"}, "scope": {"admin"}}, 400, "invalid_scope"},
			}
			for _, tt := range tests {
				r := s.Token(tt.client, tt.secret, tt.form)
				if r.Status != tt.status || r.Str("error") != tt.code {
					t.Fatalf("%s: %d %s", tt.name, r.Status, r.Raw)
				}
			}
			// The framework's regulator locks the account after max_failures wrong PINs.
			s.Token("kiosk", secret, pin("kiosk1", "1111"))
			s.Token("kiosk", secret, pin("kiosk1", "2222"))
			if r := s.Token("kiosk", secret, pin("kiosk1", "4321")); r.Status != 400 {
				t.Fatalf("right PIN during lockout: %d %s", r.Status, r.Raw)
			}
			if s.Logs.Mentions("4321") {
				t.Fatal("the PIN reached the log")
			}
		})
	}
}

// TestReadmeShowsThisExample keeps README's copy of the example identical to the tested file.
func TestReadmeShowsThisExample(t *testing.T) {
	code, err := os.ReadFile("pin.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, readme := range []string{"../../README.md", "../../README.zh-CN.md"} {
		doc, err := os.ReadFile(readme)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(doc), "```go\n"+string(code)+"```") {
			t.Errorf("%s does not show examples/pingrant/pin.go verbatim", readme)
		}
	}
}
