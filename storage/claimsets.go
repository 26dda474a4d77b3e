package storage

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// ClaimSet is a scope that releases user claims (IS4's IdentityResources with their
// IdentityResourceClaims): when the scope is granted, the id_token and userinfo carry those of the
// user's claims. The standard OIDC scopes are built in (grants.StandardClaimSets); a stored set of
// the same name adds claims to them.
type ClaimSet struct {
	Scope       string     `gorm:"primaryKey;size:191"`
	DisplayName string     `gorm:"size:255;not null"`
	Claims      StringList `gorm:"type:text;not null"`
	Enabled     bool       `gorm:"not null"`
	Origin      string     `gorm:"size:32;not null"` // "is4" for imported sets
	UpdatedAt   time.Time  `gorm:"not null"`
}

// ClaimSets lists the stored claim sets, enabled or not, by scope.
func (s *Store) ClaimSets(ctx context.Context) ([]ClaimSet, error) {
	var out []ClaimSet
	if err := s.db(ctx).Order("scope").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("storage: claim sets: %w", err)
	}
	return out, nil
}

// SaveClaimSet creates or replaces the claim set of cs.Scope.
func (s *Store) SaveClaimSet(ctx context.Context, cs *ClaimSet) error {
	cs.UpdatedAt = s.now()
	if cs.Claims == nil {
		cs.Claims = StringList{}
	}
	err := s.db(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "scope"}},
		DoUpdates: clause.AssignmentColumns([]string{"display_name", "claims", "enabled", "origin", "updated_at"}),
	}).Create(cs).Error
	if err != nil {
		return fmt.Errorf("storage: save claim set: %w", err)
	}
	return nil
}
