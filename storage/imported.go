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

// This file holds what an import from another server (IdentityServer4) needs beyond lingpai's own
// model: several secrets per client, per-client settings, user claims and lockouts, API resources
// and refresh tokens that lingpai did not issue. Every table is additive; nothing here changes how
// natively created rows behave.

// ClientSecret is one more secret a client may authenticate with, besides Client.SecretHash. Each
// may expire; an expired one is never accepted.
type ClientSecret struct {
	ID          string     `gorm:"primaryKey;size:64"`
	ClientID    string     `gorm:"size:191;not null;index"`
	Hash        []byte     `gorm:"type:blob;not null"`
	Description string     `gorm:"size:2000;not null"`
	Origin      string     `gorm:"size:32;not null"` // "" for lingpai's own, "is4" for imported ones
	ExpiresAt   *time.Time `gorm:"index"`
	CreatedAt   time.Time  `gorm:"not null"`
}

// ClientSettings are per-client values that override the server's defaults. Zero lifetimes mean
// "the server's default".
type ClientSettings struct {
	ClientID string `gorm:"primaryKey;size:191"`
	// Lifetimes in seconds.
	AccessTokenLifetime     int `gorm:"not null"`
	IDTokenLifetime         int `gorm:"not null"`
	AuthCodeLifetime        int `gorm:"not null"`
	AbsoluteRefreshLifetime int `gorm:"not null"`
	SlidingRefreshLifetime  int `gorm:"not null"`
	// RefreshTokenReuse is IS4's RefreshTokenUsage=ReUse; RefreshTokenSliding its
	// RefreshTokenExpiration=Sliding.
	RefreshTokenReuse   bool `gorm:"not null"`
	RefreshTokenSliding bool `gorm:"not null"`
	// ClientClaims are "type=value" pairs put into the client's tokens, named with ClaimsPrefix.
	ClientClaims           StringList `gorm:"type:text;not null"`
	ClaimsPrefix           string     `gorm:"size:64;not null"`
	AlwaysSendClientClaims bool       `gorm:"not null"`
	// LegacyResourceAudience adds <issuer>/resources to aud (IS4's EmitLegacyResourceAudienceClaim).
	LegacyResourceAudience bool      `gorm:"not null"`
	UpdatedAt              time.Time `gorm:"not null"`
}

// UserClaim is a claim of a user carried into tokens (IS4's AspNetUserClaims; roles as "role").
type UserClaim struct {
	ID     string `gorm:"primaryKey;size:64"`
	UserID string `gorm:"size:64;not null;index"`
	Type   string `gorm:"size:255;not null"`
	Value  string `gorm:"type:text;not null"`
	Origin string `gorm:"size:32;not null"`
}

// UserLockout keeps an account locked until a time (ASP.NET Identity's LockoutEnd).
type UserLockout struct {
	UserID string    `gorm:"primaryKey;size:64"`
	Until  time.Time `gorm:"not null"`
}

// APIResource is a protected API: tokens granted any of its scopes carry its name in aud.
type APIResource struct {
	Name        string     `gorm:"primaryKey;size:191"`
	DisplayName string     `gorm:"size:255;not null"`
	Scopes      StringList `gorm:"type:text;not null"`
	Enabled     bool       `gorm:"not null"`
	UpdatedAt   time.Time  `gorm:"not null"`
}

// APIResourceSecret lets an API resource authenticate (to introspect its tokens).
type APIResourceSecret struct {
	ID          string     `gorm:"primaryKey;size:64"`
	Resource    string     `gorm:"size:191;not null;index"`
	Hash        []byte     `gorm:"type:blob;not null"`
	Description string     `gorm:"size:2000;not null"`
	ExpiresAt   *time.Time `gorm:"index"`
}

// LegacyRefreshToken is a live refresh token another server issued. It is keyed by that server's
// own lookup key (IS4: base64(SHA-256(handle + ":refresh_token"))), never the handle, so a
// database leak does not leak usable tokens.
type LegacyRefreshToken struct {
	LookupKey  string     `gorm:"primaryKey;size:64"`
	ClientID   string     `gorm:"size:191;not null;index"`
	Subject    string     `gorm:"size:191;not null"`
	SessionID  string     `gorm:"size:100;not null"`
	Scopes     StringList `gorm:"type:text;not null"`
	Audience   StringList `gorm:"type:text;not null"`
	IssuedAt   time.Time  `gorm:"not null"` // the original CreationTime: lifetimes count from it
	ExpiresAt  time.Time  `gorm:"not null;index"`
	Consumed   bool       `gorm:"not null"`
	ConsumedAt *time.Time
	ImportedAt time.Time `gorm:"not null"`
}

// ImportedSigningKey marks a signing key that came from another server. Tokens with its kid are
// that server's (and verified without a stored token row) when signed before ActiveSince; a key
// lingpai never signs with has no ActiveSince.
type ImportedSigningKey struct {
	KID         string     `gorm:"primaryKey;size:64"`
	Origin      string     `gorm:"size:32;not null"`
	ImportedAt  time.Time  `gorm:"not null"`
	ActiveSince *time.Time // when lingpai started signing with it
}

func importedModels() []any {
	return []any{&ClientSecret{}, &ClientSettings{}, &UserClaim{}, &UserLockout{}, &APIResource{},
		&APIResourceSecret{}, &LegacyRefreshToken{}, &ImportedSigningKey{}, &ClaimSet{}}
}

// liveSecretHashes are the hashes of the client's other secrets that have not expired; they go
// into GetHashedSecret (one comparison for all of them) rather than fosite's secret rotation,
// which compares hash by hash.
func (c *Client) liveSecretHashes() [][]byte {
	now := time.Now()
	var out [][]byte
	for _, s := range c.secrets {
		if s.ExpiresAt == nil || now.Before(*s.ExpiresAt) {
			out = append(out, s.Hash)
		}
	}
	return out
}

// Settings returns the client's settings; nil when it has none.
func (c *Client) Settings() *ClientSettings { return c.settings }

// GetEffectiveLifespan implements fosite.ClientWithCustomTokenLifespans from ClientSettings.
func (c *Client) GetEffectiveLifespan(_ fosite.GrantType, tt fosite.TokenType, fallback time.Duration) time.Duration {
	if c.settings == nil {
		return fallback
	}
	secs := 0
	switch tt {
	case fosite.AccessToken:
		secs = c.settings.AccessTokenLifetime
	case fosite.IDToken:
		secs = c.settings.IDTokenLifetime
	case fosite.AuthorizeCode:
		secs = c.settings.AuthCodeLifetime
	case fosite.RefreshToken:
		secs = c.settings.SlidingRefreshLifetime
		if !c.settings.RefreshTokenSliding || secs == 0 {
			secs = c.settings.AbsoluteRefreshLifetime
		}
	}
	if secs <= 0 {
		return fallback
	}
	return time.Duration(secs) * time.Second
}

// loadClientExtras attaches a client's extra secrets and settings.
func (s *Store) loadClientExtras(ctx context.Context, c *Client) error {
	if err := s.db(ctx).Where("client_id = ?", c.ID).Order("id").Find(&c.secrets).Error; err != nil {
		return fmt.Errorf("storage: client secrets: %w", err)
	}
	var set ClientSettings
	err := s.db(ctx).Where("client_id = ?", c.ID).Take(&set).Error
	switch {
	case err == nil:
		c.settings = &set
	case !errors.Is(err, gorm.ErrRecordNotFound):
		return fmt.Errorf("storage: client settings: %w", err)
	}
	return nil
}

// ClientSecrets lists a client's extra secrets.
func (s *Store) ClientSecrets(ctx context.Context, clientID string) ([]ClientSecret, error) {
	var out []ClientSecret
	if err := s.db(ctx).Where("client_id = ?", clientID).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("storage: client secrets: %w", err)
	}
	return out, nil
}

// ReplaceClientSecrets replaces a client's extra secrets of one origin with list: a re-import
// yields the source's current set, never duplicates.
func (s *Store) ReplaceClientSecrets(ctx context.Context, clientID, origin string, list []ClientSecret) error {
	return s.Transaction(ctx, func(ctx context.Context) error {
		if err := s.db(ctx).Where("client_id = ? AND origin = ?", clientID, origin).Delete(&ClientSecret{}).Error; err != nil {
			return fmt.Errorf("storage: replace client secrets: %w", err)
		}
		now := s.now()
		for i := range list {
			cs := list[i]
			cs.ID, cs.ClientID, cs.Origin, cs.CreatedAt = NewID(), clientID, origin, now
			if err := s.db(ctx).Create(&cs).Error; err != nil {
				return fmt.Errorf("storage: replace client secrets: %w", err)
			}
		}
		s.clients.forget(clientID)
		return nil
	})
}

// SaveClientSettings creates or replaces a client's settings.
func (s *Store) SaveClientSettings(ctx context.Context, set *ClientSettings) error {
	set.UpdatedAt = s.now()
	if err := s.db(ctx).Clauses(clause.OnConflict{UpdateAll: true}).Create(set).Error; err != nil {
		return fmt.Errorf("storage: save client settings: %w", err)
	}
	s.clients.forget(set.ClientID)
	return nil
}

// ReplaceUserClaims replaces a user's claims of one origin.
func (s *Store) ReplaceUserClaims(ctx context.Context, userID, origin string, list []UserClaim) error {
	return s.Transaction(ctx, func(ctx context.Context) error {
		if err := s.db(ctx).Where("user_id = ? AND origin = ?", userID, origin).Delete(&UserClaim{}).Error; err != nil {
			return fmt.Errorf("storage: replace user claims: %w", err)
		}
		for i := range list {
			uc := list[i]
			uc.ID, uc.UserID, uc.Origin = NewID(), userID, origin
			if err := s.db(ctx).Create(&uc).Error; err != nil {
				return fmt.Errorf("storage: replace user claims: %w", err)
			}
		}
		return nil
	})
}

// UserClaims lists a user's stored claims.
func (s *Store) UserClaims(ctx context.Context, userID string) ([]UserClaim, error) {
	var out []UserClaim
	if err := s.db(ctx).Where("user_id = ?", userID).Order("type, value").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("storage: user claims: %w", err)
	}
	return out, nil
}

// SetUserLockout locks a user until a time; nil removes the lockout.
func (s *Store) SetUserLockout(ctx context.Context, userID string, until *time.Time) error {
	db := s.db(ctx)
	if until == nil {
		if err := db.Where("user_id = ?", userID).Delete(&UserLockout{}).Error; err != nil {
			return fmt.Errorf("storage: clear lockout: %w", err)
		}
		return nil
	}
	if err := db.Clauses(clause.OnConflict{UpdateAll: true}).Create(&UserLockout{UserID: userID, Until: until.UTC()}).Error; err != nil {
		return fmt.Errorf("storage: set lockout: %w", err)
	}
	return nil
}

// UserLockedUntil returns the end of a user's lockout when it is still in the future.
func (s *Store) UserLockedUntil(ctx context.Context, userID string) (time.Time, bool, error) {
	var l UserLockout
	err := s.db(ctx).Where("user_id = ?", userID).Take(&l).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("storage: lockout: %w", err)
	}
	return l.Until, s.now().Before(l.Until), nil
}

// ReplacePasswordHash swaps a user's password hash only if it is still old (compare-and-set), so
// a rehash racing a password change never overwrites the new password. It reports whether it did.
func (s *Store) ReplacePasswordHash(ctx context.Context, userID string, old, hash []byte) (bool, error) {
	res := s.db(ctx).Model(&User{}).Where("id = ? AND password_hash = ?", userID, old).
		Updates(map[string]any{"password_hash": hash, "updated_at": s.now()})
	if res.Error != nil {
		return false, fmt.Errorf("storage: replace password hash: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// SaveAPIResource creates or replaces an API resource and its imported secrets.
func (s *Store) SaveAPIResource(ctx context.Context, r *APIResource, secrets []APIResourceSecret) error {
	return s.Transaction(ctx, func(ctx context.Context) error {
		r.UpdatedAt = s.now()
		if err := s.db(ctx).Clauses(clause.OnConflict{UpdateAll: true}).Create(r).Error; err != nil {
			return fmt.Errorf("storage: save api resource: %w", err)
		}
		if err := s.db(ctx).Where("resource = ?", r.Name).Delete(&APIResourceSecret{}).Error; err != nil {
			return fmt.Errorf("storage: save api resource secrets: %w", err)
		}
		for i := range secrets {
			sec := secrets[i]
			sec.ID, sec.Resource = NewID(), r.Name
			if err := s.db(ctx).Create(&sec).Error; err != nil {
				return fmt.Errorf("storage: save api resource secrets: %w", err)
			}
		}
		return nil
	})
}

// APIResources lists every API resource.
func (s *Store) APIResources(ctx context.Context) ([]APIResource, error) {
	var out []APIResource
	if err := s.db(ctx).Order("name").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("storage: api resources: %w", err)
	}
	return out, nil
}

// SaveLegacyRefreshToken creates or updates an imported refresh token. A token already consumed
// here stays consumed: re-running an import must not revive a token that was used at lingpai.
func (s *Store) SaveLegacyRefreshToken(ctx context.Context, t *LegacyRefreshToken) (created bool, err error) {
	t.ImportedAt = s.now()
	res := s.db(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(t)
	if res.Error != nil {
		return false, fmt.Errorf("storage: save legacy refresh token: %w", res.Error)
	}
	if res.RowsAffected == 1 {
		return true, nil
	}
	err = s.db(ctx).Model(&LegacyRefreshToken{}).Where("lookup_key = ?", t.LookupKey).Updates(map[string]any{
		"client_id": t.ClientID, "subject": t.Subject, "session_id": t.SessionID, "scopes": t.Scopes,
		"audience": t.Audience, "issued_at": t.IssuedAt, "expires_at": t.ExpiresAt, "imported_at": t.ImportedAt,
	}).Error
	if err != nil {
		return false, fmt.Errorf("storage: update legacy refresh token: %w", err)
	}
	return false, nil
}

// LegacyRefreshTokenByKey loads an imported refresh token; unknown is fosite.ErrNotFound.
func (s *Store) LegacyRefreshTokenByKey(ctx context.Context, k string) (*LegacyRefreshToken, error) {
	var t LegacyRefreshToken
	err := s.db(ctx).Where("lookup_key = ?", k).Take(&t).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: legacy refresh token: %w", err)
	}
	return &t, nil
}

// ConsumeLegacyRefreshToken marks an imported refresh token used, compare-and-set: of concurrent
// callers exactly one gets true.
func (s *Store) ConsumeLegacyRefreshToken(ctx context.Context, k string) (bool, error) {
	now := s.now()
	res := s.db(ctx).Model(&LegacyRefreshToken{}).Where("lookup_key = ? AND consumed = ?", k, false).
		Updates(map[string]any{"consumed": true, "consumed_at": now})
	if res.Error != nil {
		return false, fmt.Errorf("storage: consume legacy refresh token: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// DeleteStaleLegacyRefreshTokens removes unconsumed imported refresh tokens last imported before
// a run began: the source no longer holds them live (IS4 rotated or revoked them meanwhile), so
// lingpai must not honour them either.
func (s *Store) DeleteStaleLegacyRefreshTokens(ctx context.Context, before time.Time) (int64, error) {
	res := s.db(ctx).Where("imported_at < ? AND consumed = ?", before, false).Delete(&LegacyRefreshToken{})
	if res.Error != nil {
		return 0, fmt.Errorf("storage: delete stale legacy refresh tokens: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// UserIDs returns every user id, for bulk existence checks.
func (s *Store) UserIDs(ctx context.Context) ([]string, error) {
	var ids []string
	if err := s.db(ctx).Model(&User{}).Pluck("id", &ids).Error; err != nil {
		return nil, fmt.Errorf("storage: user ids: %w", err)
	}
	return ids, nil
}

// SaveImportedSigningKey stores a key brought from another server under its own kid. Active, it
// becomes the signing key (the others retire, as in AddSigningKey); otherwise it only verifies and
// is published until retireAt plus the keyring's overlap, for tokens the old server signed.
// Re-importing the same kid updates it.
func (s *Store) SaveImportedSigningKey(ctx context.Context, k *SigningKey, active bool, retireAt time.Time) error {
	return s.Transaction(ctx, func(ctx context.Context) error {
		now := s.now()
		if active {
			if err := s.db(ctx).Model(&SigningKey{}).Where("retired_at IS NULL AND k_id <> ?", k.KID).Update("retired_at", now).Error; err != nil {
				return fmt.Errorf("storage: retire keys: %w", err)
			}
			k.RetiredAt = nil
		} else {
			r := retireAt.UTC()
			k.RetiredAt = &r
		}
		k.CreatedAt = now
		if err := s.db(ctx).Clauses(clause.OnConflict{UpdateAll: true}).Create(k).Error; err != nil {
			return fmt.Errorf("storage: import signing key: %w", err)
		}
		var mark ImportedSigningKey
		err := s.db(ctx).Where("k_id = ?", k.KID).Take(&mark).Error
		if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
			return fmt.Errorf("storage: import signing key: %w", err)
		}
		mark.KID, mark.Origin, mark.ImportedAt = k.KID, "is4", now
		if active && mark.ActiveSince == nil {
			mark.ActiveSince = &now
		}
		if err := s.db(ctx).Clauses(clause.OnConflict{UpdateAll: true}).Create(&mark).Error; err != nil {
			return fmt.Errorf("storage: import signing key: %w", err)
		}
		return nil
	})
}

// ImportedSigningKeys lists the keys brought from another server.
func (s *Store) ImportedSigningKeys(ctx context.Context) ([]ImportedSigningKey, error) {
	var out []ImportedSigningKey
	if err := s.db(ctx).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("storage: imported signing keys: %w", err)
	}
	return out, nil
}

// CreateUsersBatch inserts new users and their claims in multi-row statements (an import's fast
// path; the caller has checked that ids, usernames and phones are free).
func (s *Store) CreateUsersBatch(ctx context.Context, users []User, claims []UserClaim) error {
	now := s.now()
	for i := range users {
		users[i].CreatedAt, users[i].UpdatedAt = now, now
	}
	for i := range claims {
		if claims[i].ID == "" {
			claims[i].ID = NewID()
		}
	}
	if len(users) > 0 {
		if err := s.db(ctx).CreateInBatches(users, 500).Error; err != nil {
			return fmt.Errorf("storage: create users: %w", err)
		}
	}
	if len(claims) > 0 {
		if err := s.db(ctx).CreateInBatches(claims, 500).Error; err != nil {
			return fmt.Errorf("storage: create user claims: %w", err)
		}
	}
	return nil
}

// CreateLegacyRefreshTokens inserts new imported refresh tokens in multi-row statements.
func (s *Store) CreateLegacyRefreshTokens(ctx context.Context, list []LegacyRefreshToken) error {
	if len(list) == 0 {
		return nil
	}
	now := s.now()
	for i := range list {
		list[i].ImportedAt = now
	}
	if err := s.db(ctx).CreateInBatches(list, 500).Error; err != nil {
		return fmt.Errorf("storage: create legacy refresh tokens: %w", err)
	}
	return nil
}

// LegacyRefreshTokenKeys returns the keys of every imported refresh token.
func (s *Store) LegacyRefreshTokenKeys(ctx context.Context) ([]string, error) {
	var keys []string
	if err := s.db(ctx).Model(&LegacyRefreshToken{}).Pluck("lookup_key", &keys).Error; err != nil {
		return nil, fmt.Errorf("storage: legacy refresh token keys: %w", err)
	}
	return keys, nil
}
