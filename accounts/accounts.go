// Package accounts answers "who is this?" for lingpai: local users with hashed passwords, the
// identities linked to them (directory entries, phones, WeChat), and the claims tokens carry.
// Grants ask it for a subject; they never touch tables.
package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ory/fosite"
	"golang.org/x/text/unicode/norm"

	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/internal/reqctx"
	"github.com/lingpai/lingpai/internal/throttle"
	"github.com/lingpai/lingpai/storage"
)

// ErrBadCredentials is the one answer for an unknown user, a wrong password, a disabled account
// and a locked-out account, so no response reveals which accounts exist.
var ErrBadCredentials = errors.New("accounts: bad credentials")

// Store is the part of storage accounts reads and writes.
type Store interface {
	Transaction(ctx context.Context, fn func(ctx context.Context) error) error
	UserByID(ctx context.Context, id string) (*storage.User, error)
	UserByUsername(ctx context.Context, username string) (*storage.User, error)
	UserByPhone(ctx context.Context, phone string) (*storage.User, error)
	CreateUser(ctx context.Context, u *storage.User) error
	SaveUser(ctx context.Context, u *storage.User) error
	IdentityOf(ctx context.Context, provider, subject string) (*storage.Identity, error)
	IdentitiesOf(ctx context.Context, userID string) ([]storage.Identity, error)
	LinkIdentity(ctx context.Context, id *storage.Identity) error
	UpdateIdentityClaims(ctx context.Context, id string, claims []byte) error
	// Imported from IdentityServer4 (storage/imported.go): stored claims, lockouts, and the
	// compare-and-set that upgrades an imported hash after a right password.
	UserClaims(ctx context.Context, userID string) ([]storage.UserClaim, error)
	UserLockedUntil(ctx context.Context, userID string) (time.Time, bool, error)
	ReplacePasswordHash(ctx context.Context, userID string, old, hash []byte) (bool, error)
	RevokeSubject(ctx context.Context, subject string) error
}

// Service is the local account directory.
type Service struct {
	store     Store
	hasher    hashing.Hasher
	regulator *throttle.Regulator
	logger    *slog.Logger
	dummy     []byte // a real hash, verified for unknown users so they cost as much as known ones
}

// New returns the service.
func New(store Store, hasher hashing.Hasher, regulator *throttle.Regulator, logger *slog.Logger) (*Service, error) {
	dummy, err := hasher.Hash(context.Background(), []byte("lingpai-timing-equaliser"))
	if err != nil {
		return nil, err
	}
	return &Service{store: store, hasher: hasher, regulator: regulator, logger: logger, dummy: dummy}, nil
}

// NormalizeUsername folds a username to the form it is stored and compared in: NFKC, trimmed,
// lower case, so "Alice", "alice " and full-width "ａｌｉｃｅ" are one account.
func NormalizeUsername(u string) string {
	return strings.ToLower(strings.TrimSpace(norm.NFKC.String(u)))
}

// Authenticate checks a local username and password (fosite's ROPC storage contract: a
// fosite.ErrNotFound-wrapped error is invalid_grant, anything else a server error).
func (s *Service) Authenticate(ctx context.Context, username, password string) (string, error) {
	name := NormalizeUsername(username)
	var user *storage.User
	var reason string
	verify := func() error {
		u, err := s.store.UserByUsername(ctx, name)
		if err != nil && !errors.Is(err, fosite.ErrNotFound) {
			return err
		}
		hash := s.dummy // unknown users cost a hash too, so timing does not tell who exists
		if u != nil && len(u.PasswordHash) > 0 {
			hash = u.PasswordHash
		}
		cerr := s.hasher.Compare(ctx, hash, []byte(password))
		if errors.Is(cerr, hashing.ErrBusy) {
			return cerr // overloaded, not a wrong password: 503, and no failure counted
		}
		switch {
		case u == nil:
			reason = "unknown_user"
		case len(u.PasswordHash) == 0:
			reason = "no_password"
		case cerr != nil:
			reason = "bad_password"
		case u.Disabled:
			reason = "disabled"
		default:
			until, locked, err := s.store.UserLockedUntil(ctx, u.ID)
			if err != nil {
				return err
			}
			if !locked {
				user = u
				return nil
			}
			// An imported lockout (ASP.NET Identity's LockoutEnd) holds until its end.
			reason = "locked_out_until_" + until.Format(time.RFC3339)
		}
		return ErrBadCredentials
	}
	badCredentials := func(err error) bool { return errors.Is(err, ErrBadCredentials) }
	lockedNow, err := s.regulator.Attempt(ctx, "pwd:"+name, reqctx.From(ctx).ClientIP, verify, badCredentials)
	switch {
	case errors.Is(err, throttle.ErrLocked):
		s.logger.WarnContext(ctx, "sign-in refused", "event", "signin.failed", "reason", "throttled", "username", name)
		return "", fmt.Errorf("%w: %w", fosite.ErrNotFound, ErrBadCredentials)
	case badCredentials(err):
		s.logger.InfoContext(ctx, "sign-in failed", "event", "signin.failed", "reason", reason, "username", name, "throttled_now", lockedNow)
		if lockedNow {
			// The same audit event the custom grants write when a failure locks an account.
			s.logger.WarnContext(ctx, "account throttled", "event", "account.throttled", "grant_type", "password", "username", name)
		}
		return "", fmt.Errorf("%w: %w", fosite.ErrNotFound, ErrBadCredentials)
	case err != nil:
		return "", err
	}
	s.upgradeHash(ctx, user, password)
	s.logger.InfoContext(ctx, "sign-in succeeded", "event", "signin.succeeded", "subject", user.ID)
	return user.ID, nil
}

// upgradeHash replaces an imported password hash (ASP.NET Identity, bcrypt) with lingpai's
// argon2id once the password is known to be right. Only after a successful check: a wrong
// password never changes the row. The swap is compare-and-set, so it never overwrites a password
// changed meanwhile; a failure only logs, since the sign-in itself succeeded.
func (s *Service) upgradeHash(ctx context.Context, u *storage.User, password string) {
	if !hashing.NeedsRehash(u.PasswordHash) {
		return
	}
	h, err := s.hasher.Hash(ctx, []byte(password))
	if err == nil {
		_, err = s.store.ReplacePasswordHash(ctx, u.ID, u.PasswordHash, h)
	}
	if err != nil {
		s.logger.WarnContext(ctx, "password rehash failed", "event", "password.rehash_failed", "subject", u.ID, "error", err.Error())
		return
	}
	s.logger.InfoContext(ctx, "password rehashed", "event", "password.rehashed", "subject", u.ID)
}

// Active reports whether subject is a user that may still get tokens (exists, not disabled).
func (s *Service) Active(ctx context.Context, subject string) (bool, error) {
	u, err := s.store.UserByID(ctx, subject)
	if errors.Is(err, fosite.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if u.Disabled {
		return false, nil
	}
	// A locked-out user gets no new tokens by refresh either (IS4's ProfileService.IsActiveAsync).
	_, locked, err := s.store.UserLockedUntil(ctx, subject)
	return !locked && err == nil, err
}

// Claims returns a user's claims, keyed by OIDC claim name: the account's own, overlaid with what
// its linked identities said at their last sign-in (a directory's name, username and groups).
func (s *Service) Claims(ctx context.Context, subject string) (map[string]any, error) {
	u, err := s.store.UserByID(ctx, subject)
	if err != nil {
		return nil, err
	}
	claims := UserClaims(u)
	ids, err := s.store.IdentitiesOf(ctx, subject)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		var extra map[string]any
		if len(id.Claims) > 0 && json.Unmarshal(id.Claims, &extra) == nil {
			for k, v := range extra {
				claims[k] = v
			}
		}
	}
	stored, err := s.store.UserClaims(ctx, subject)
	if err != nil {
		return nil, err
	}
	addStoredClaims(claims, stored)
	return claims, nil
}

// addStoredClaims adds a user's stored claims (imported AspNetUserClaims and roles as "role"):
// one value stays a string, several become a list, as IdentityServer4 emitted them. A claim the
// account already has (name, email, ...) is not overwritten.
func addStoredClaims(claims map[string]any, stored []storage.UserClaim) {
	multi := map[string][]string{}
	for _, c := range stored {
		if _, own := claims[c.Type]; own && multi[c.Type] == nil {
			continue
		}
		multi[c.Type] = append(multi[c.Type], c.Value)
		if len(multi[c.Type]) == 1 {
			claims[c.Type] = c.Value
		} else {
			claims[c.Type] = multi[c.Type]
		}
	}
}

// UserClaims maps a user row to OIDC claims, leaving out what is empty.
func UserClaims(u *storage.User) map[string]any {
	c := map[string]any{}
	if u.Username != nil {
		c["preferred_username"] = *u.Username
	}
	if u.Name != "" {
		c["name"] = u.Name
	}
	if u.Email != "" {
		c["email"] = u.Email
		c["email_verified"] = u.EmailVerified
	}
	if u.Phone != nil {
		c["phone_number"] = *u.Phone
		c["phone_number_verified"] = u.PhoneVerified
	}
	return c
}

// Profile is what the browser pages show of an account.
type Profile struct {
	ID          string
	DisplayName string // name, else username, else phone, else the id
	Disabled    bool
}

// Profile returns subject's profile; fosite.ErrNotFound when there is no such user.
func (s *Service) Profile(ctx context.Context, subject string) (Profile, error) {
	u, err := s.store.UserByID(ctx, subject)
	if err != nil {
		return Profile{}, err
	}
	p := Profile{ID: u.ID, DisplayName: u.ID, Disabled: u.Disabled}
	switch {
	case u.Name != "":
		p.DisplayName = u.Name
	case u.Username != nil:
		p.DisplayName = *u.Username
	case u.Phone != nil:
		p.DisplayName = *u.Phone
	}
	return p, nil
}

// IsLocal reports whether username names a local account (the sign-in page then checks it here,
// not with the directory).
func (s *Service) IsLocal(ctx context.Context, username string) (bool, error) {
	_, err := s.store.UserByUsername(ctx, NormalizeUsername(username))
	if errors.Is(err, fosite.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
