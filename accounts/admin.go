package accounts

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/lingpai/lingpai/storage"
)

// MaxUsernameBytes is the longest username accepted (handlers.InputLimits["username"]); its
// normalised form always fits the users column (191 characters).
const MaxUsernameBytes = 128

// ErrWeakPassword is returned for a password too short to be worth storing.
var ErrWeakPassword = errors.New("accounts: password must be at least 8 characters")

// NewUser describes a local user to create.
type NewUser struct {
	Username string
	Password string
	Phone    string // already normalised to E.164 by the caller
	Email    string
	Name     string
}

// CreateUser creates a local user with a hashed password.
func (s *Service) CreateUser(ctx context.Context, nu NewUser) (*storage.User, error) {
	name := NormalizeUsername(nu.Username)
	if name == "" {
		return nil, errors.New("accounts: username is required")
	}
	if len(nu.Username) > MaxUsernameBytes || utf8.RuneCountInString(name) > 191 {
		return nil, fmt.Errorf("accounts: username is longer than %d bytes", MaxUsernameBytes)
	}
	u := &storage.User{Username: &name, Name: nu.Name, Email: nu.Email}
	if nu.Password != "" {
		h, err := s.hashPassword(ctx, nu.Password)
		if err != nil {
			return nil, err
		}
		u.PasswordHash = h
	}
	if nu.Phone != "" {
		p := nu.Phone
		u.Phone, u.PhoneVerified = &p, true
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

func (s *Service) hashPassword(ctx context.Context, pw string) ([]byte, error) {
	if len([]rune(pw)) < 8 {
		return nil, ErrWeakPassword
	}
	h, err := s.hasher.Hash(ctx, []byte(pw))
	if err != nil {
		return nil, fmt.Errorf("accounts: hash password: %w", err)
	}
	return h, nil
}

// SetPassword replaces a user's password.
func (s *Service) SetPassword(ctx context.Context, username, pw string) error {
	u, err := s.store.UserByUsername(ctx, NormalizeUsername(username))
	if err != nil {
		return err
	}
	if u.PasswordHash, err = s.hashPassword(ctx, pw); err != nil {
		return err
	}
	return s.store.SaveUser(ctx, u)
}

// SetDisabled disables or re-enables a user. Disabling also revokes every token family and login
// session of the user, in the same transaction: enabling the user later starts from nothing.
func (s *Service) SetDisabled(ctx context.Context, username string, disabled bool) error {
	return s.store.Transaction(ctx, func(ctx context.Context) error {
		u, err := s.store.UserByUsername(ctx, NormalizeUsername(username))
		if err != nil {
			return err
		}
		u.Disabled = disabled
		if err := s.store.SaveUser(ctx, u); err != nil {
			return err
		}
		if !disabled {
			return nil
		}
		return s.store.RevokeSubject(ctx, u.ID)
	})
}

// HashPassword applies the password policy and hashes pw, for administrators setting a password
// on a user they found by other means than a username (lingpai user set-password --sub).
func (s *Service) HashPassword(ctx context.Context, pw string) ([]byte, error) {
	return s.hashPassword(ctx, pw)
}
