package storage

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// LockedKeys returns which of keys are locked at now, in one query.
func (s *Store) LockedKeys(ctx context.Context, keys []string, now time.Time) ([]string, error) {
	var out []string
	err := s.db(ctx).Model(&ThrottleLock{}).Where("subject_key IN ? AND locked_until > ?", keys, now.UTC()).
		Pluck("subject_key", &out).Error
	if err != nil {
		return nil, fmt.Errorf("storage: throttle locks: %w", err)
	}
	return out, nil
}

// AddFailure counts one failure for key in bucket (insert or increment in one statement) and
// returns the key's total over the buckets from first on. It runs as one retried transaction:
// the same counter incremented from two Galera nodes at once fails certification on one of them
// (1213), and a failure that is not counted is a failure an attacker gets for free. A failed
// attempt wrote nothing, so running it again counts the failure once.
func (s *Store) AddFailure(ctx context.Context, key string, bucket, first int64, expires time.Time) (int, error) {
	var total int64
	err := s.Transaction(ctx, func(ctx context.Context) error {
		row := ThrottleCounter{SubjectKey: key, Bucket: bucket, Count: 1, ExpiresAt: expires.UTC()}
		err := s.db(ctx).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "subject_key"}, {Name: "bucket"}},
			DoUpdates: clause.Assignments(map[string]any{"count": increment(1)}),
		}).Create(&row).Error
		if err != nil {
			return fmt.Errorf("storage: throttle count: %w", err)
		}
		total = 0
		err = s.db(ctx).Model(&ThrottleCounter{}).Where("subject_key = ? AND bucket >= ?", key, first).
			Select("COALESCE(SUM(count), 0)").Scan(&total).Error
		if err != nil {
			return fmt.Errorf("storage: throttle sum: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return int(total), nil
}

// Lock locks key until until (extending, never shortening, an existing lock).
func (s *Store) Lock(ctx context.Context, key string, until time.Time) error {
	err := s.Transaction(ctx, func(ctx context.Context) error {
		row := ThrottleLock{SubjectKey: key, LockedUntil: until.UTC()}
		return s.db(ctx).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "subject_key"}},
			DoUpdates: clause.AssignmentColumns([]string{"locked_until"}),
		}).Create(&row).Error
	})
	if err != nil {
		return fmt.Errorf("storage: throttle lock: %w", err)
	}
	return nil
}

// ResetFailures forgets the failures counted for key (after a successful sign-in).
func (s *Store) ResetFailures(ctx context.Context, key string) error {
	if err := s.db(ctx).Where("subject_key = ?", key).Delete(&ThrottleCounter{}).Error; err != nil {
		return fmt.Errorf("storage: throttle reset: %w", err)
	}
	return nil
}

// increment is the upsert's "count = count + delta". The column is qualified with its table
// because PostgreSQL finds a bare "count" ambiguous between the row and EXCLUDED.
func increment(delta int) clause.Expr {
	return gorm.Expr("throttle_counters.count + ?", delta)
}
