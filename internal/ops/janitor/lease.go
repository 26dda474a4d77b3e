package janitor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Lease is a row that says which process may do a once-per-cluster job until when. It replaces
// GET_LOCK, which Galera and TiDB do not honour across nodes.
type Lease struct {
	Name      string    `gorm:"primaryKey;size:64"`
	Holder    string    `gorm:"size:191;not null"`
	ExpiresAt time.Time `gorm:"not null"`
}

// TableName keeps the table name stable whatever GORM's naming strategy.
func (Lease) TableName() string { return "leases" }

// Models are the tables this package owns, for migration.
func Models() []any { return []any{&Lease{}} }

// AcquireLease takes or renews the lease name for holder until now+ttl, and reports whether holder
// has it. It is a compare-and-set on one row, so two replicas can never both win: the update only
// matches when the lease is free, expired or already ours.
func AcquireLease(ctx context.Context, db *gorm.DB, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	now = now.UTC().Truncate(time.Millisecond)
	until := now.Add(ttl)
	// Make sure the row exists; an existing row is left alone.
	err := db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).
		Create(&Lease{Name: name, Holder: "", ExpiresAt: now.Add(-time.Second)}).Error
	if err != nil {
		return false, fmt.Errorf("janitor: lease row: %w", err)
	}
	res := db.WithContext(ctx).Model(&Lease{}).
		Where("name = ? AND (holder = ? OR expires_at < ?)", name, holder, now).
		Updates(map[string]any{"holder": holder, "expires_at": until})
	if res.Error != nil {
		return false, fmt.Errorf("janitor: lease: %w", res.Error)
	}
	if res.RowsAffected == 1 {
		return true, nil
	}
	// MySQL counts a row whose values did not change as unaffected, so re-read before concluding.
	var l Lease
	if err := db.WithContext(ctx).Where("name = ?", name).Take(&l).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return false, nil
		}
		return false, fmt.Errorf("janitor: lease read: %w", err)
	}
	return l.Holder == holder && !l.ExpiresAt.Before(until), nil
}
