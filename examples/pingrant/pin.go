// Package pingrant is the worked example of README's "Add your own grant": grant_type=pin signs a
// kiosk user in with a username and a PIN. It is a toy (PINs in memory); the point is the shape.
package pingrant

import (
	"context"
	"crypto/subtle"
	"fmt"

	"github.com/lingpai/lingpai/grants"
)

// Grant answers grant_type=pin.
type Grant struct {
	PINs map[string]string // username -> PIN
}

// Type is the grant_type value clients send.
func (g Grant) Type() string { return "pin" }

// Authenticate says whose request this is; lingpai does everything else.
func (g Grant) Authenticate(ctx context.Context, req grants.Request) (grants.Identity, error) {
	user, pin := req.Form.Get("username"), req.Form.Get("pin")
	if user == "" || pin == "" {
		return grants.Identity{}, grants.Hinted(grants.ErrInvalidRequest, "username and pin are required")
	}
	want, ok := g.PINs[user]
	if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(pin)) != 1 {
		return grants.Identity{}, fmt.Errorf("pin for %q: %w", user, grants.ErrInvalidCredentials)
	}
	return grants.Identity{
		Subject: "pin-" + user,
		Claims:  map[string]any{"preferred_username": user},
		AMR:     []string{"pin"},
	}, nil
}

// AccountKey makes wrong PINs count in lingpai's brute-force regulator, per user.
func (g Grant) AccountKey(req grants.Request) string { return "pin:" + req.Form.Get("username") }

// SecretParams keeps the PIN out of everything lingpai stores.
func (g Grant) SecretParams() []string { return []string{"pin"} }
