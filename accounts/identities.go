package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/storage"
)

// ErrNoAccount means the external identity is linked to no user and provisioning is off.
var ErrNoAccount = errors.New("accounts: no account for this identity")

// ErrDisabled means the linked user is disabled.
var ErrDisabled = errors.New("accounts: account disabled")

// External describes an identity proven by someone else (a directory, WeChat).
type External struct {
	Provider string         // "ldap", "wechat-unionid", "wechat-openid:<appid>"
	Subject  string         // the provider's stable id for the person
	Claims   map[string]any // refreshed at every sign-in (name, email, groups...)
	// Also are further (provider, subject) pairs of the same person (a WeChat openid next to its
	// unionid): the user is found by any of them, and all are linked to it.
	Also []External
	// Profile fills a new user's columns when one is provisioned.
	Profile NewProfile
}

// NewProfile is what a just-in-time account starts with. It has no phone: a phone is an SMS
// sign-in credential, proven only by a code (ByPhone), never by what an upstream says.
type NewProfile struct {
	Name, Email string
}

// resolveAttempts bounds how often Resolve looks again after losing a race to link an identity.
const resolveAttempts = 3

// Resolve finds the user linked to ext (or to any of ext.Also), provisioning one when none is and
// create is true, links every pair to that user, and stores the latest claims. The user's id is
// the token's sub, so it never changes when the person is renamed or moved upstream.
//
// Creating the user and linking it are one transaction: of concurrent first sign-ins of one person
// one links its new user; the others' links fail, their transactions (and users) roll back, and
// they look again and find the winner's user.
func (s *Service) Resolve(ctx context.Context, ext External, create bool) (*storage.User, error) {
	var user *storage.User
	var err error
	for attempt := 0; attempt < resolveAttempts; attempt++ {
		user, err = s.resolveOnce(ctx, ext, create)
		if !errors.Is(err, storage.ErrIdentityLinked) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	if user.Disabled {
		return nil, ErrDisabled
	}
	if err := s.notLockedOut(ctx, user.ID); err != nil {
		return nil, err
	}
	return user, nil
}

// notLockedOut refuses an account under an imported lockout (ASP.NET Identity's LockoutEnd) for
// every way of signing in, as ErrDisabled until the lockout ends.
func (s *Service) notLockedOut(ctx context.Context, userID string) error {
	_, locked, err := s.store.UserLockedUntil(ctx, userID)
	if err != nil {
		return err
	}
	if locked {
		return ErrDisabled
	}
	return nil
}

func (s *Service) resolveOnce(ctx context.Context, ext External, create bool) (*storage.User, error) {
	all := append([]External{ext}, ext.Also...)
	var user *storage.User
	err := s.store.Transaction(ctx, func(ctx context.Context) error {
		user = nil
		for _, e := range all {
			id, err := s.store.IdentityOf(ctx, e.Provider, e.Subject)
			if errors.Is(err, fosite.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if user, err = s.store.UserByID(ctx, id.UserID); err != nil {
				return fmt.Errorf("accounts: identity %s links to a missing user: %w", e.Provider, err)
			}
			break
		}
		if user == nil {
			if !create {
				return ErrNoAccount
			}
			user = &storage.User{Name: ext.Profile.Name, Email: ext.Profile.Email}
			if err := s.store.CreateUser(ctx, user); err != nil {
				return err
			}
		}
		for _, e := range all {
			claims, _ := json.Marshal(e.Claims)
			link := &storage.Identity{UserID: user.ID, Provider: e.Provider, Subject: e.Subject, Claims: claims}
			if err := s.store.LinkIdentity(ctx, link); err != nil {
				return err
			}
			if err := s.store.UpdateIdentityClaims(ctx, link.ID, claims); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return user, nil
}

// LinkExisting links an external identity to an existing local user (lingpai user link-wechat):
// every pair or none.
func (s *Service) LinkExisting(ctx context.Context, username string, ext External) error {
	return s.store.Transaction(ctx, func(ctx context.Context) error {
		u, err := s.store.UserByUsername(ctx, NormalizeUsername(username))
		if err != nil {
			return err
		}
		for _, e := range append([]External{ext}, ext.Also...) {
			if err := s.store.LinkIdentity(ctx, &storage.Identity{UserID: u.ID, Provider: e.Provider, Subject: e.Subject}); err != nil {
				return err
			}
		}
		return nil
	})
}

// CanSignInByPhone reports whether a code sent to phone could be redeemed: ByPhone's rule without
// its side effect (an enabled account with that phone verified, or create).
func (s *Service) CanSignInByPhone(ctx context.Context, phone string, create bool) (bool, error) {
	if create {
		return true, nil
	}
	u, err := s.store.UserByPhone(ctx, phone)
	if errors.Is(err, fosite.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return !u.Disabled && u.PhoneVerified, nil
}

// ByPhone returns the user whose verified phone is phone (E.164), creating one when create is true.
func (s *Service) ByPhone(ctx context.Context, phone string, create bool) (*storage.User, error) {
	u, err := s.store.UserByPhone(ctx, phone)
	if err == nil {
		if u.Disabled || !u.PhoneVerified {
			return nil, ErrDisabled
		}
		if err := s.notLockedOut(ctx, u.ID); err != nil {
			return nil, err
		}
		return u, nil
	}
	if !errors.Is(err, fosite.ErrNotFound) {
		return nil, err
	}
	if !create {
		return nil, ErrNoAccount
	}
	p := phone
	u = &storage.User{Phone: &p, PhoneVerified: true}
	if err := s.store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, storage.ErrUserExists) { // a concurrent first sign-in created it
			return s.store.UserByPhone(ctx, phone)
		}
		return nil, err
	}
	return u, nil
}
