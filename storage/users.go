package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/ory/fosite"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ErrUserExists is returned when a username or phone is taken.
var ErrUserExists = errors.New("storage: username or phone already in use")

// ErrIdentityLinked is LinkIdentity's ErrUserExists: the (provider, subject) pair is linked to
// another user, e.g. by a concurrent first sign-in of the same person.
var ErrIdentityLinked = fmt.Errorf("%w: identity linked to another user", ErrUserExists)

// NewID returns a random identifier (UUIDv4): never time-ordered, so nothing can rely on its order.
func NewID() string { return uuid.NewString() }

// CreateUser stores a new user; the caller normalises username and phone.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	if u.ID == "" {
		u.ID = NewID()
	}
	now := s.now()
	u.CreatedAt, u.UpdatedAt = now, now
	if err := s.db(ctx).Create(u).Error; err != nil {
		if isDuplicate(err) {
			return ErrUserExists
		}
		return fmt.Errorf("storage: create user: %w", err)
	}
	return nil
}

// SaveUser updates every field of an existing user.
func (s *Store) SaveUser(ctx context.Context, u *User) error {
	u.UpdatedAt = s.now()
	res := s.db(ctx).Model(&User{}).Where("id = ?", u.ID).Select("*").Omit("created_at").Updates(u)
	if res.Error != nil {
		if isDuplicate(res.Error) {
			return ErrUserExists
		}
		return fmt.Errorf("storage: save user: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return fosite.ErrNotFound
	}
	return nil
}

func (s *Store) userWhere(ctx context.Context, query string, arg any) (*User, error) {
	var u User
	err := s.db(ctx).Where(query, arg).Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: get user: %w", err)
	}
	return &u, nil
}

// UserByID loads a user by subject.
func (s *Store) UserByID(ctx context.Context, id string) (*User, error) {
	return s.userWhere(ctx, "id = ?", id)
}

// UserByUsername loads a user by normalised username.
func (s *Store) UserByUsername(ctx context.Context, username string) (*User, error) {
	return s.userWhere(ctx, "username = ?", username)
}

// UserByPhone loads a user by E.164 phone number.
func (s *Store) UserByPhone(ctx context.Context, phone string) (*User, error) {
	return s.userWhere(ctx, "phone = ?", phone)
}

// ListUsers returns every user ordered by username.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	var out []User
	if err := s.db(ctx).Order("username").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("storage: list users: %w", err)
	}
	return out, nil
}

// IdentityOf finds the identity (provider, subject), e.g. ("ldap", objectGUID).
func (s *Store) IdentityOf(ctx context.Context, provider, subject string) (*Identity, error) {
	var id Identity
	err := s.db(ctx).Where("provider = ? AND subject = ?", provider, subject).Take(&id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: get identity: %w", err)
	}
	return &id, nil
}

// LinkIdentity links (provider, subject) to a user. Linking the same pair twice to the same user is
// a no-op; to another user it is ErrIdentityLinked (an ErrUserExists).
func (s *Store) LinkIdentity(ctx context.Context, id *Identity) error {
	if id.ID == "" {
		id.ID = NewID()
	}
	now := s.now()
	id.CreatedAt, id.UpdatedAt = now, now
	// ON CONFLICT DO NOTHING rather than catching the duplicate-key error, which on PostgreSQL
	// would abort a surrounding transaction and fail the read below.
	res := s.db(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(id)
	if res.Error != nil {
		return fmt.Errorf("storage: link identity: %w", res.Error)
	}
	if res.RowsAffected == 1 {
		return nil
	}
	existing, gerr := s.IdentityOf(ctx, id.Provider, id.Subject)
	if gerr != nil {
		return gerr
	}
	if existing.UserID != id.UserID {
		return ErrIdentityLinked
	}
	*id = *existing
	return nil
}

// UpdateIdentityClaims stores the claims last seen for an identity.
func (s *Store) UpdateIdentityClaims(ctx context.Context, id string, claims []byte) error {
	return s.db(ctx).Model(&Identity{}).Where("id = ?", id).
		Updates(map[string]any{"claims": claims, "updated_at": s.now()}).Error
}

// IdentitiesOf returns a user's linked identities.
func (s *Store) IdentitiesOf(ctx context.Context, userID string) ([]Identity, error) {
	var out []Identity
	if err := s.db(ctx).Where("user_id = ?", userID).Order("updated_at").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("storage: identities: %w", err)
	}
	return out, nil
}
