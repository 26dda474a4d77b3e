package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ory/fosite"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// LoginSession is a browser's signed-in state. The cookie holds a random value; only its hash is
// stored, so a database leak does not hand out sessions. In the database so every replica sees it.
type LoginSession struct {
	ID        string    `gorm:"primaryKey;size:64"` // sha256(cookie value), hex
	SID       string    `gorm:"column:sid;size:64;not null;index"`
	UserID    string    `gorm:"size:64;not null;index"`
	AuthTime  time.Time `gorm:"not null"`
	AMR       string    `gorm:"size:64;not null"`
	ExpiresAt time.Time `gorm:"not null;index"`
	CreatedAt time.Time `gorm:"not null"`
}

// Consent remembers the scopes a user granted a client, until ExpiresAt when set (IS4's
// ConsentLifetime: an expired consent is asked again; lingpai's own consents do not expire).
type Consent struct {
	UserID    string     `gorm:"primaryKey;size:64"`
	ClientID  string     `gorm:"primaryKey;size:191"`
	Scopes    StringList `gorm:"type:text;not null"`
	UpdatedAt time.Time  `gorm:"not null"`
	ExpiresAt *time.Time
}

// CreateLoginSession stores a session under the hash of its cookie value.
func (s *Store) CreateLoginSession(ctx context.Context, cookie string, ls *LoginSession) error {
	ls.ID = key(cookie)
	ls.CreatedAt = s.now()
	if err := s.db(ctx).Create(ls).Error; err != nil {
		return fmt.Errorf("storage: create login session: %w", err)
	}
	return nil
}

// LoginSessionByCookie returns the live session of a cookie value, or fosite.ErrNotFound.
func (s *Store) LoginSessionByCookie(ctx context.Context, cookie string, now time.Time) (*LoginSession, error) {
	var ls LoginSession
	err := s.db(ctx).Where("id = ? AND expires_at > ?", key(cookie), now.UTC()).Take(&ls).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: login session: %w", err)
	}
	return &ls, nil
}

// DeleteLoginSession ends the session of a cookie value.
func (s *Store) DeleteLoginSession(ctx context.Context, cookie string) error {
	return s.db(ctx).Where("id = ?", key(cookie)).Delete(&LoginSession{}).Error
}

// DeleteLoginSessionsBySID ends a session by its public id (the id_token's sid).
func (s *Store) DeleteLoginSessionsBySID(ctx context.Context, sid string) error {
	return s.db(ctx).Where("sid = ?", sid).Delete(&LoginSession{}).Error
}

// ConsentOf returns the scopes user granted client (empty when none or expired).
func (s *Store) ConsentOf(ctx context.Context, userID, clientID string) ([]string, error) {
	var c Consent
	err := s.db(ctx).Where("user_id = ? AND client_id = ? AND (expires_at IS NULL OR expires_at > ?)", userID, clientID, s.now()).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("storage: consent: %w", err)
	}
	return c.Scopes, nil
}

// SaveConsent records the scopes user granted client, replacing earlier ones (and an imported
// expiry: a consent given here does not expire).
func (s *Store) SaveConsent(ctx context.Context, userID, clientID string, scopes []string) error {
	c := Consent{UserID: userID, ClientID: clientID, Scopes: scopes, UpdatedAt: s.now()}
	err := s.db(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "user_id"}, {Name: "client_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"scopes", "updated_at", "expires_at"}),
	}).Create(&c).Error
	if err != nil {
		return fmt.Errorf("storage: save consent: %w", err)
	}
	return nil
}
