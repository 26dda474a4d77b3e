package server_test

import (
	"bufio"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
)

// events returns the log records carrying an audit event name.
func events(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["event"] != nil {
			out = append(out, rec)
		}
	}
	return out
}

func TestTokenIssuedAuditEvent(t *testing.T) {
	s := lingpaitest.Start(t, "sqlite", nil)
	secret := s.Client("app", []string{"password", "client_credentials"}, []string{"api1"})
	u := s.User("alice", "alice-password-1")
	tests := []struct {
		name    string
		form    url.Values
		subject string
	}{
		{"password", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-password-1"}}, u.ID},
		{"client_credentials", url.Values{"grant_type": {"client_credentials"}}, ""}, // no user: no subject
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.Token("app", secret, tt.form)
			if r.Status != 200 {
				t.Fatal(r.Raw)
			}
			reqID := r.Header.Get("X-Request-Id")
			var found map[string]any
			for _, e := range events(t, s.Logs.String()) {
				if e["event"] == "token.issued" && e["request_id"] == reqID {
					found = e
				}
			}
			if found == nil {
				t.Fatalf("no token.issued event for request %s", reqID)
			}
			for k, want := range map[string]any{"client_id": "app", "subject": tt.subject, "grant_type": tt.name} {
				if found[k] != want {
					t.Fatalf("token.issued %s = %v, want %v (%v)", k, found[k], want, found)
				}
			}
			for _, secretish := range []string{secret, "alice-password-1", r.Str("access_token")} {
				if strings.Contains(s.Logs.String(), secretish) {
					t.Fatal("a secret, password or token reached the log")
				}
			}
		})
	}
}

// TestSignInEventsJoinTheirRequest: sign-in events are written deep in the grant, yet each carries
// the request id and client id of its request, so an operator can join it to the request line.
func TestSignInEventsJoinTheirRequest(t *testing.T) {
	s := lingpaitest.Start(t, "sqlite", nil)
	secret := s.Client("app", []string{"password"}, []string{"api1"})
	u := s.User("bella", "bella-password-1")
	tests := []struct {
		name, password, event, subject string
	}{
		{"wrong password", "nope", "signin.failed", ""},
		{"right password", "bella-password-1", "signin.succeeded", u.ID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.Token("app", secret, url.Values{"grant_type": {"password"}, "username": {"bella"}, "password": {tt.password}})
			reqID := r.Header.Get("X-Request-Id")
			var found map[string]any
			for _, e := range events(t, s.Logs.String()) {
				if e["event"] == tt.event && e["request_id"] == reqID {
					found = e
				}
			}
			if found == nil || found["client_id"] != "app" || (tt.subject != "" && found["subject"] != tt.subject) {
				t.Fatalf("%s event for request %s: %v\n%s", tt.event, reqID, found, s.Logs.String())
			}
		})
	}
}
