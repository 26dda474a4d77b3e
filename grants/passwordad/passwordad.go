// Package passwordad is grant_type=password_ad: an Active Directory (or other LDAP) username and
// password. The first sign-in links the directory entry, by its stable id, to a lingpai account,
// so the token's sub survives renames and moves in the directory.
package passwordad

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/grants"
	"github.com/lingpai/lingpai/internal/phone"
	"github.com/lingpai/lingpai/internal/upstream/ldapdir"
)

// GrantType is the grant_type value.
const GrantType = "password_ad"

// Directory is what the grant needs of ldapdir.
type Directory interface {
	Authenticate(ctx context.Context, username, password string) (ldapdir.Entry, error)
	Lookup(ctx context.Context, id string) (ldapdir.Entry, error)
	RecheckOnRefresh() bool
	GroupClaims() bool
}

// Grant checks credentials with the directory.
type Grant struct {
	Directory Directory
	Accounts  *accounts.Service
	Logger    *slog.Logger
	// PhoneRegion reads directory phone numbers written without a country code (sms.default_region;
	// CN when empty).
	PhoneRegion string
}

var (
	_ grants.Grant     = (*Grant)(nil)
	_ grants.Throttled = (*Grant)(nil)
	_ grants.Rechecker = (*Grant)(nil)
)

// Type implements grants.Grant.
func (g *Grant) Type() string { return GrantType }

// AccountKey implements grants.Throttled: failures count per directory account, however the
// username was written (alice, CORP\alice, alice@corp.example).
func (g *Grant) AccountKey(req grants.Request) string {
	u := strings.ToLower(strings.TrimSpace(req.Form.Get("username")))
	if _, after, ok := strings.Cut(u, `\`); ok {
		u = after
	}
	u, _, _ = strings.Cut(u, "@")
	if u == "" {
		return ""
	}
	return "ad:" + u
}

// Authenticate implements grants.Grant.
func (g *Grant) Authenticate(ctx context.Context, req grants.Request) (grants.Identity, error) {
	username := req.Form.Get("username")
	if username == "" || req.Form.Get("password") == "" && !req.Form.Has("password") {
		return grants.Identity{}, grants.Hinted(grants.ErrInvalidRequest, "The parameters username and password are required.")
	}
	entry, err := g.Directory.Authenticate(ctx, username, req.Form.Get("password"))
	if err != nil {
		return grants.Identity{}, mapErr(err)
	}
	return g.resolve(ctx, entry)
}

func mapErr(err error) error {
	if errors.Is(err, ldapdir.ErrUnavailable) {
		return fmt.Errorf("%w: %w", grants.ErrUnavailable, err)
	}
	// The log gets the reason and AD sub-code; the client gets one invalid_grant for all of them.
	return fmt.Errorf("%w: %w", grants.ErrInvalidCredentials, err)
}

func (g *Grant) resolve(ctx context.Context, e ldapdir.Entry) (grants.Identity, error) {
	claims := map[string]any{"preferred_username": e.Username}
	if e.Name != "" {
		claims["name"] = e.Name
	}
	if e.Email != "" {
		claims["email"] = e.Email
	}
	// The phone is a claim like name and email (refreshed at every sign-in), not the account's SMS
	// sign-in phone: users can often edit their own telephoneNumber in AD, so it proves nothing.
	if raw := strings.TrimSpace(e.Phone); raw != "" {
		region := g.PhoneRegion
		if region == "" {
			region = "CN"
		}
		if n, err := phone.Normalize(raw, region); err == nil {
			claims["phone_number"] = n
		} else {
			claims["phone_number"] = raw // not a dialable number (an extension?): passed on as written
		}
	}
	if g.Directory.GroupClaims() {
		claims["groups"] = e.Groups
	}
	user, err := g.Accounts.Resolve(ctx, accounts.External{Provider: "ldap", Subject: e.ID, Claims: claims,
		Profile: accounts.NewProfile{Name: e.Name, Email: e.Email}}, true)
	if errors.Is(err, accounts.ErrDisabled) {
		return grants.Identity{}, fmt.Errorf("%w: lingpai account disabled", grants.ErrInvalidCredentials)
	}
	if err != nil {
		return grants.Identity{}, fmt.Errorf("password_ad: account: %w", err)
	}
	return grants.Identity{Subject: user.ID, Claims: claims, AMR: []string{"pwd"}, Ref: e.ID}, nil
}

// Recheck implements grants.Rechecker: a user deleted or disabled in the directory since sign-in
// cannot refresh (ldap.recheck_on_refresh).
func (g *Grant) Recheck(ctx context.Context, subject, ref string) error {
	if !g.Directory.RecheckOnRefresh() || ref == "" {
		return nil
	}
	if _, err := g.Directory.Lookup(ctx, ref); err != nil {
		return mapErr(err)
	}
	return grants.RecheckActive(ctx, g.Accounts, subject)
}
