// Revocations of access tokens that are not stored (tokens.store_access_tokens: false). A stored
// access token is revoked by deleting its row; a JWT with no row can only be refused by a record
// of what was revoked: its jti (RFC 7009 on the token itself), its grant (the token family: a
// revoked refresh token, a detected reuse, a replayed code) or its subject (a disabled user). Each
// record is kept until every access token it can name has expired, then swept by the janitor.

package storage

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// tokenRevocation is one revoked jti, grant or subject, keyed by a SHA-256 of kind and value.
type tokenRevocation struct {
	ID        string    `gorm:"primaryKey;size:64"`
	RevokedAt time.Time `gorm:"not null"`
	ExpiresAt time.Time `gorm:"not null;index"`
}

func (tokenRevocation) TableName() string { return "token_revocations" }

// Revocation kinds.
const (
	revokedJTI     = "jti"
	revokedGrant   = "grant"
	revokedSubject = "sub"
)

func revocationID(kind, value string) string { return key(kind + ":" + value) }

// revocationHorizon is when every access token issued until now has expired: the configured
// lifetime or the longest a client overrides it with, whichever is longer, plus a minute of
// clock skew between replicas.
func (s *Store) revocationHorizon(ctx context.Context) (time.Time, error) {
	life := s.opts.AccessTokenLifetime
	if life <= 0 {
		life = time.Hour // fosite's default
	}
	var longest sql.NullInt64
	if err := s.db(ctx).Model(&ClientSettings{}).Select("MAX(access_token_lifetime)").Scan(&longest).Error; err != nil {
		return time.Time{}, fmt.Errorf("storage: longest access token lifetime: %w", err)
	}
	if d := time.Duration(longest.Int64) * time.Second; d > life {
		life = d
	}
	return s.now().Add(life + time.Minute), nil
}

// recordRevocation upserts a revocation; a later revocation of the same subject moves its time
// forward, so tokens issued between two disables die with the second.
func (s *Store) recordRevocation(ctx context.Context, kind, value string, until time.Time) error {
	row := tokenRevocation{ID: revocationID(kind, value), RevokedAt: s.now(), ExpiresAt: until.UTC()}
	err := s.db(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "id"}},
		DoUpdates: clause.AssignmentColumns([]string{"revoked_at", "expires_at"}),
	}).Create(&row).Error
	if err != nil {
		return s.txErr(ctx, "record "+kind+" revocation", err)
	}
	return nil
}

func (s *Store) revokeForHorizon(ctx context.Context, kind, value string) error {
	until, err := s.revocationHorizon(ctx)
	if err != nil {
		return err
	}
	return s.recordRevocation(ctx, kind, value, until)
}

// RevokeJWTAccessToken revokes one access token that may have no row (RFC 7009 on a JWT): its jti
// until its expiry, and, as fosite does for a stored one, its whole grant.
func (s *Store) RevokeJWTAccessToken(ctx context.Context, jti string, exp time.Time, grantID string) error {
	return s.Transaction(ctx, func(ctx context.Context) error {
		if jti != "" {
			if err := s.recordRevocation(ctx, revokedJTI, jti, exp.Add(time.Minute)); err != nil {
				return err
			}
		}
		if grantID == "" {
			return nil
		}
		return s.revokeFamily(ctx, grantID)
	})
}

// AccessTokenRevoked reports whether an access token that has no row was revoked: by its jti, its
// grant, or its subject at or after the second it was issued (a token issued in the same second
// as a disable counts as issued before it).
func (s *Store) AccessTokenRevoked(ctx context.Context, jti, grantID, subject string, issuedAt time.Time) (bool, error) {
	ids := make([]string, 0, 3)
	kinds := map[string]string{}
	for kind, v := range map[string]string{revokedJTI: jti, revokedGrant: grantID, revokedSubject: subject} {
		if v != "" {
			id := revocationID(kind, v)
			ids, kinds[id] = append(ids, id), kind
		}
	}
	if len(ids) == 0 {
		return false, nil
	}
	var rows []tokenRevocation
	if err := s.db(ctx).Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return false, fmt.Errorf("storage: access token revoked: %w", err)
	}
	for _, r := range rows {
		if kinds[r.ID] != revokedSubject || issuedAt.Unix() <= r.RevokedAt.Unix() {
			return true, nil
		}
	}
	return false, nil
}
