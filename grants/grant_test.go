package grants

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ory/fosite"
)

// TestErrorFor: each error a grant may return becomes one RFC 6749 answer, and a disabled account
// is indistinguishable from a wrong password to the client.
func TestErrorFor(t *testing.T) {
	wrongPassword := fosite.ErrorToRFC6749Error(errorFor(fmt.Errorf("ad: 52e: %w", ErrInvalidCredentials)))
	tests := []struct {
		name   string
		err    error
		code   string
		status int
	}{
		{"bad credentials", fmt.Errorf("ad: 52e: %w", ErrInvalidCredentials), "invalid_grant", 400},
		{"account disabled", fmt.Errorf("ad: 533: %w", ErrAccountDisabled), "invalid_grant", 400},
		{"upstream unavailable", fmt.Errorf("ldap: dial: %w", ErrUnavailable), "temporarily_unavailable", 503},
		{"rate limited", fmt.Errorf("pin: %w", ErrRateLimited), "slow_down", 429},
		{"missing parameter", Hinted(ErrInvalidRequest, "The parameter pin is required."), "invalid_request", 400},
		{"client not allowed", Hinted(ErrUnauthorizedClient, "no"), "unauthorized_client", 400},
		{"fosite error passes through", fosite.ErrInvalidScope.WithHint("x"), "invalid_scope", 400},
		{"anything else", errors.New("boom"), "server_error", 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rfc := fosite.ErrorToRFC6749Error(errorFor(tt.err))
			if rfc.ErrorField != tt.code || rfc.CodeField != tt.status {
				t.Fatalf("got %s %d, want %s %d", rfc.ErrorField, rfc.CodeField, tt.code, tt.status)
			}
			if tt.code == "invalid_grant" && (rfc.GetDescription() != wrongPassword.GetDescription()) {
				t.Fatalf("%s is told apart from a wrong password: %q", tt.name, rfc.GetDescription())
			}
		})
	}
	if !errors.Is(ErrAccountDisabled, ErrInvalidCredentials) {
		t.Fatal("ErrAccountDisabled must count as invalid credentials (throttling, recheck)")
	}
}
