// Package sms is grant_type=sms: sign in with a phone number and the one-time code sent to it by
// POST /connect/sms/code. The code's life cycle (limits, hashing, single use) is package smscode.
package sms

import (
	"context"
	"errors"
	"fmt"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/grants"
	"github.com/lingpai/lingpai/storage"
)

// GrantType is the grant_type value.
const GrantType = "sms"

// Codes redeems one-time codes (smscode.Service): false for a wrong, expired, used or dead code.
type Codes interface {
	Redeem(ctx context.Context, phone, code string) (bool, error)
}

// Accounts is what the grant needs of accounts.
type Accounts interface {
	ByPhone(ctx context.Context, phone string, create bool) (*storage.User, error)
	Active(ctx context.Context, subject string) (bool, error)
	// Claims are the user's claims, stored ones (imported AspNetUserClaims, roles) included.
	Claims(ctx context.Context, subject string) (map[string]any, error)
}

// Grant redeems a code and resolves the phone's account.
type Grant struct {
	Codes        Codes
	Accounts     Accounts
	Normalize    func(raw string) (string, error) // to E.164
	AutoRegister bool
}

var (
	_ grants.Grant        = (*Grant)(nil)
	_ grants.Rechecker    = (*Grant)(nil)
	_ grants.SecretParams = (*Grant)(nil)
)

// Type implements grants.Grant.
func (g *Grant) Type() string { return GrantType }

// SecretParams implements grants.SecretParams: the code never reaches storage.
func (g *Grant) SecretParams() []string { return []string{"sms", "code"} }

// Authenticate implements grants.Grant. A wrong, expired, used or dead code and an unknown phone
// all give ErrInvalidCredentials, so the answer is the same in every case.
func (g *Grant) Authenticate(ctx context.Context, req grants.Request) (grants.Identity, error) {
	raw, code := req.Form.Get("phone"), req.Form.Get("sms")
	if raw == "" || code == "" {
		return grants.Identity{}, grants.Hinted(grants.ErrInvalidRequest, "The parameters phone and sms are required.")
	}
	phone, err := g.Normalize(raw)
	if err != nil {
		return grants.Identity{}, grants.Hinted(fmt.Errorf("%w: %w", grants.ErrInvalidRequest, err), "The phone number is not valid.")
	}
	ok, err := g.Codes.Redeem(ctx, phone, code)
	if err != nil {
		return grants.Identity{}, fmt.Errorf("sms: redeem: %w", err)
	}
	if !ok {
		return grants.Identity{}, fmt.Errorf("sms: wrong, expired, used or dead code: %w", grants.ErrInvalidCredentials)
	}
	u, err := g.Accounts.ByPhone(ctx, phone, g.AutoRegister)
	if errors.Is(err, accounts.ErrNoAccount) || errors.Is(err, accounts.ErrDisabled) {
		return grants.Identity{}, fmt.Errorf("sms: %w: %w", err, grants.ErrInvalidCredentials)
	}
	if err != nil {
		return grants.Identity{}, fmt.Errorf("sms: account: %w", err)
	}
	claims, err := g.Accounts.Claims(ctx, u.ID)
	if err != nil {
		return grants.Identity{}, fmt.Errorf("sms: claims: %w", err)
	}
	return grants.Identity{Subject: u.ID, Claims: claims, AMR: []string{"sms"}}, nil
}

// Recheck implements grants.Rechecker: a disabled or deleted user cannot refresh.
func (g *Grant) Recheck(ctx context.Context, subject, _ string) error {
	return grants.RecheckActive(ctx, g.Accounts, subject)
}
