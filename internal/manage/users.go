package manage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/internal/phone"
	"github.com/lingpai/lingpai/internal/throttle"
	"github.com/lingpai/lingpai/storage"
)

// UserView is a user as the API shows it; the password hash never leaves.
type UserView struct {
	Sub           string     `json:"sub"`
	Username      *string    `json:"username"`
	Name          string     `json:"name"`
	Email         string     `json:"email"`
	EmailVerified bool       `json:"email_verified"`
	Phone         *string    `json:"phone_number"`
	PhoneVerified bool       `json:"phone_number_verified"`
	HasPassword   bool       `json:"has_password"`
	Disabled      bool       `json:"disabled"`
	LockedUntil   *time.Time `json:"locked_until"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

// IdentityView is a linked identity (directory entry, WeChat, phone provider).
type IdentityView struct {
	ID        string    `json:"id"`
	Provider  string    `json:"provider"`
	Subject   string    `json:"subject"`
	CreatedAt time.Time `json:"created_at"`
}

// SessionView is a browser login session; its cookie never leaves.
type SessionView struct {
	SID       string    `json:"sid"`
	AuthTime  time.Time `json:"auth_time"`
	AMR       string    `json:"amr"`
	ExpiresAt time.Time `json:"expires_at"`
}

// ConsentView is the scopes a user granted a client.
type ConsentView struct {
	ClientID  string    `json:"client_id"`
	Scopes    []string  `json:"scopes"`
	UpdatedAt time.Time `json:"updated_at"`
}

func (s *Service) region() string {
	if s.Config != nil && s.Config.SMS != nil && s.Config.SMS.DefaultRegion != "" {
		return s.Config.SMS.DefaultRegion
	}
	return "CN"
}

// NormalizePhone is the E.164 rule for a phone given to the API or the CLI; field names it.
func (s *Service) NormalizePhone(field, raw string) (string, error) {
	p, err := phone.Normalize(raw, s.region())
	if err != nil {
		return "", invalid(field, "not a phone number that normalises to E.164")
	}
	return p, nil
}

func (s *Service) userView(ctx context.Context, u *storage.User) (*UserView, error) {
	v := &UserView{Sub: u.ID, Username: u.Username, Name: u.Name, Email: u.Email, EmailVerified: u.EmailVerified, Phone: u.Phone,
		PhoneVerified: u.PhoneVerified, HasPassword: len(u.PasswordHash) > 0, Disabled: u.Disabled, CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC()}
	until, err := s.LockedUntil(ctx, u)
	if err != nil {
		return nil, err
	}
	v.LockedUntil = until
	return v, nil
}

// LockedUntil is when a user's sign-in lock ends, nil when it is not locked: the later of a
// lockout imported from IdentityServer4 and the throttle's locks on the user's account keys.
// The admin API and `lingpai user show` both report it.
func (s *Service) LockedUntil(ctx context.Context, u *storage.User) (*time.Time, error) {
	var latest *time.Time
	later := func(t time.Time) {
		if t = t.UTC(); latest == nil || t.After(*latest) {
			latest = &t
		}
	}
	imported, locked, err := s.Store.UserLockedUntil(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if locked {
		later(imported)
	}
	if keys := ThrottleKeys(u); keys != nil {
		var lock storage.ThrottleLock
		err := s.Store.DB(ctx).Where("subject_key IN ? AND locked_until > ?", keys, s.now().UTC()).Order("locked_until DESC").Limit(1).Find(&lock).Error
		if err != nil {
			return nil, fmt.Errorf("manage: user lock: %w", err)
		}
		if lock.SubjectKey != "" {
			later(lock.LockedUntil)
		}
	}
	return latest, nil
}

// ThrottleKeys are the regulator's account keys a user's sign-ins count against (password and
// directory grants key by username).
func ThrottleKeys(u *storage.User) []string {
	if u.Username == nil {
		return nil
	}
	return append(throttle.AccountKeys("pwd:"+*u.Username), throttle.AccountKeys("ad:"+*u.Username)...)
}

// UserQuery selects users: every non-empty field must match (username and e-mail by prefix,
// phone and sub exactly).
type UserQuery struct {
	Username, Email, Phone, Sub string
}

// UserPage is one page of users.
type UserPage struct {
	Items []*UserView `json:"items"`
	Next  string      `json:"next_cursor"`
}

// ListUsers searches users, paged by subject.
func (s *Service) ListUsers(ctx context.Context, q UserQuery, cursor string, limit int) (*UserPage, error) {
	after, err := DecodeCursor("cursor", cursor)
	if err != nil {
		return nil, err
	}
	db := s.Store.DB(ctx).Order("id").Limit(limit + 1)
	if after != "" {
		db = db.Where("id > ?", after)
	}
	if q.Username != "" {
		db = db.Where("username LIKE ? ESCAPE '!'", likePrefix(accounts.NormalizeUsername(q.Username)))
	}
	if q.Email != "" {
		db = db.Where("email LIKE ? ESCAPE '!'", likePrefix(strings.TrimSpace(q.Email)))
	}
	if q.Phone != "" {
		p, err := s.NormalizePhone("phone_number", q.Phone)
		if err != nil {
			return nil, err
		}
		db = db.Where("phone = ?", p)
	}
	if q.Sub != "" {
		db = db.Where("id = ?", q.Sub)
	}
	var rows []storage.User
	if err := db.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("manage: list users: %w", err)
	}
	page := &UserPage{Items: []*UserView{}}
	if len(rows) > limit {
		rows = rows[:limit]
		page.Next = EncodeCursor(rows[limit-1].ID)
	}
	for i := range rows {
		v, err := s.userView(ctx, &rows[i])
		if err != nil {
			return nil, err
		}
		page.Items = append(page.Items, v)
	}
	return page, nil
}

// likePrefix is a LIKE pattern matching strings that start with p ('!' escapes the wildcards).
func likePrefix(p string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(p) + "%"
}

func (s *Service) user(ctx context.Context, sub string) (*storage.User, error) {
	u, err := s.Store.UserByID(ctx, sub)
	if errors.Is(err, fosite.ErrNotFound) {
		return nil, ErrNotFound
	}
	return u, err
}

// User reads one user.
func (s *Service) User(ctx context.Context, sub string) (*UserView, error) {
	u, err := s.user(ctx, sub)
	if err != nil {
		return nil, err
	}
	return s.userView(ctx, u)
}

// UserFields are a user's settable profile fields; nil leaves a field as it is.
type UserFields struct {
	Username      *string `json:"username"`
	Name          *string `json:"name"`
	Email         *string `json:"email"`
	EmailVerified *bool   `json:"email_verified"`
	Phone         *string `json:"phone_number"`
	PhoneVerified *bool   `json:"phone_number_verified"`
}

// NewUserInput is what creating a user takes.
type NewUserInput struct {
	UserFields
	Password string `json:"password"`
}

func (s *Service) applyUser(u *storage.User, f UserFields) error {
	if f.Username != nil {
		n := accounts.NormalizeUsername(*f.Username)
		if n == "" || len(n) > 191 {
			return invalid("username", "1 to 191 characters")
		}
		u.Username = &n
	}
	if f.Name != nil {
		if len(*f.Name) > 255 {
			return invalid("name", "at most 255 characters")
		}
		u.Name = *f.Name
	}
	if f.Email != nil {
		e := strings.TrimSpace(*f.Email)
		if e != "" && (!strings.Contains(e, "@") || len(e) > 255) {
			return invalid("email", "not an e-mail address")
		}
		u.Email = e
	}
	if f.EmailVerified != nil {
		u.EmailVerified = *f.EmailVerified
	}
	if f.Phone != nil {
		if *f.Phone == "" {
			u.Phone = nil
		} else {
			p, err := s.NormalizePhone("phone_number", *f.Phone)
			if err != nil {
				return err
			}
			u.Phone = &p
		}
	}
	if f.PhoneVerified != nil {
		u.PhoneVerified = *f.PhoneVerified
	}
	return nil
}

// CreateUser creates a local user; the password (optional) follows the accounts policy.
func (s *Service) CreateUser(ctx context.Context, in NewUserInput) (*UserView, error) {
	u := &storage.User{}
	if in.Username == nil && in.Phone == nil {
		return nil, invalid("username", "a user needs a username or a phone_number")
	}
	if err := s.applyUser(u, in.UserFields); err != nil {
		return nil, err
	}
	if in.Password != "" {
		if in.Username == nil {
			return nil, invalid("password", "a password needs a username to sign in with")
		}
		h, err := s.Accounts.HashPassword(ctx, in.Password)
		if errors.Is(err, accounts.ErrWeakPassword) {
			return nil, invalid("password", "at least 8 characters")
		}
		if err != nil {
			return nil, err
		}
		u.PasswordHash = h
	}
	if err := s.Store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, storage.ErrUserExists) {
			return nil, ErrExists
		}
		return nil, err
	}
	return s.userView(ctx, u)
}

// UpdateUser changes the fields given.
func (s *Service) UpdateUser(ctx context.Context, sub string, f UserFields) (*UserView, error) {
	u, err := s.user(ctx, sub)
	if err != nil {
		return nil, err
	}
	if err := s.applyUser(u, f); err != nil {
		return nil, err
	}
	if err := s.Store.SaveUser(ctx, u); err != nil {
		if errors.Is(err, storage.ErrUserExists) {
			return nil, ErrExists
		}
		return nil, err
	}
	return s.userView(ctx, u)
}

// SetDisabled disables or enables a user. A disabled user cannot sign in, and refreshes fail
// (accounts.Active); their live tokens and sessions are ended by storage.RevokeSubject.
func (s *Service) SetDisabled(ctx context.Context, sub string, disabled bool) (*UserView, error) {
	u, err := s.user(ctx, sub)
	if err != nil {
		return nil, err
	}
	u.Disabled = disabled
	if err := s.Store.SaveUser(ctx, u); err != nil {
		return nil, err
	}
	if disabled {
		if err := s.EndSessions(ctx, sub); err != nil {
			return nil, err
		}
		if err := s.Store.RevokeSubject(ctx, sub); err != nil { // token families, codes, sessions
			return nil, err
		}
	}
	return s.userView(ctx, u)
}

// SetPassword replaces a user's password.
func (s *Service) SetPassword(ctx context.Context, sub, pw string) error {
	u, err := s.user(ctx, sub)
	if err != nil {
		return err
	}
	if u.Username == nil {
		return invalid("password", "a user without a username cannot sign in with a password")
	}
	h, err := s.Accounts.HashPassword(ctx, pw)
	if errors.Is(err, accounts.ErrWeakPassword) {
		return invalid("password", "at least 8 characters")
	}
	if err != nil {
		return err
	}
	u.PasswordHash = h
	return s.Store.SaveUser(ctx, u)
}

// Unlock lifts a sign-in lockout and forgets the failures counted; it reports whether the user
// was locked.
func (s *Service) Unlock(ctx context.Context, u *storage.User) (bool, error) {
	keys := ThrottleKeys(u)
	var n int64
	err := s.Store.Transaction(ctx, func(ctx context.Context) error {
		if keys != nil {
			res := s.Store.DB(ctx).Where("subject_key IN ?", keys).Delete(&storage.ThrottleLock{})
			if res.Error != nil {
				return res.Error
			}
			n = res.RowsAffected
			if err := s.Store.DB(ctx).Where("subject_key IN ?", keys).Delete(&storage.ThrottleCounter{}).Error; err != nil {
				return err
			}
		}
		// An imported (IdentityServer4) lockout is lifted too.
		if _, locked, err := s.Store.UserLockedUntil(ctx, u.ID); err != nil {
			return err
		} else if locked {
			n++
			return s.Store.SetUserLockout(ctx, u.ID, nil)
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("manage: unlock: %w", err)
	}
	return n > 0, nil
}

// UnlockSub is Unlock for a subject.
func (s *Service) UnlockSub(ctx context.Context, sub string) (bool, error) {
	u, err := s.user(ctx, sub)
	if err != nil {
		return false, err
	}
	return s.Unlock(ctx, u)
}

// DeleteUser removes a user with its linked identities, consents, sessions and tokens.
func (s *Service) DeleteUser(ctx context.Context, u *storage.User) error {
	// Tokens first: a token that outlived its user would still pass introspection.
	return s.Store.Transaction(ctx, func(ctx context.Context) error {
		db := s.Store.DB(ctx)
		for _, t := range []string{"access_tokens", "refresh_tokens", "authorize_codes", "pkce_requests", "oidc_sessions"} {
			if err := db.Exec("DELETE FROM "+t+" WHERE subject = ?", u.ID).Error; err != nil {
				return fmt.Errorf("manage: delete user: %s: %w", t, err)
			}
		}
		for _, m := range []any{&storage.Identity{}, &storage.Consent{}, &storage.LoginSession{}, &storage.UserClaim{}} {
			if err := db.Where("user_id = ?", u.ID).Delete(m).Error; err != nil {
				return fmt.Errorf("manage: delete user: %w", err)
			}
		}
		if keys := ThrottleKeys(u); keys != nil {
			if err := db.Where("subject_key IN ?", keys).Delete(&storage.ThrottleLock{}).Error; err != nil {
				return fmt.Errorf("manage: delete user: %w", err)
			}
		}
		return db.Where("id = ?", u.ID).Delete(&storage.User{}).Error
	})
}

// DeleteUserSub is DeleteUser for a subject.
func (s *Service) DeleteUserSub(ctx context.Context, sub string) error {
	u, err := s.user(ctx, sub)
	if err != nil {
		return err
	}
	return s.DeleteUser(ctx, u)
}
