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

// AddFailures adds delta to the counter of each key in bucket and returns each key's new total
// over the buckets from first on, all in one transaction: the regulator reserves an attempt
// (delta 1) before verifying a credential, so concurrent attempts, on any replica, each see a
// distinct count. One upsert for every key and one grouped read: four round trips, not six.
func (s *Store) AddFailures(ctx context.Context, keys []string, bucket, first int64, delta int, expires time.Time) ([]int, error) {
	totals := make([]int, len(keys))
	err := s.transaction(ctx, counterRetry, func(ctx context.Context) error {
		if err := s.addCounts(ctx, keys, bucket, delta, expires); err != nil {
			return err
		}
		var rows []struct {
			SubjectKey string
			Total      int64
		}
		if err := s.db(ctx).Model(&ThrottleCounter{}).Select("subject_key, COALESCE(SUM(count), 0) AS total").
			Where("subject_key IN ? AND bucket >= ?", keys, first).Group("subject_key").Scan(&rows).Error; err != nil {
			return err
		}
		by := make(map[string]int, len(rows))
		for _, r := range rows {
			by[r.SubjectKey] = int(r.Total)
		}
		for i, key := range keys {
			totals[i] = by[key]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: throttle count: %w", err)
	}
	return totals, nil
}

// GiveBackFailures adds delta (a reservation given back: -1) to the counter of each key in bucket
// and reads nothing back.
func (s *Store) GiveBackFailures(ctx context.Context, keys []string, bucket int64, delta int, expires time.Time) error {
	err := s.transaction(ctx, counterRetry, func(ctx context.Context) error { return s.addCounts(ctx, keys, bucket, delta, expires) })
	if err != nil {
		return fmt.Errorf("storage: throttle give back: %w", err)
	}
	return nil
}

// addCounts upserts every key's counter in one statement, in the order given (the regulator's
// keys come in one order, account then address, so concurrent upserts lock rows alike). A key
// given twice is upserted once per occurrence: PostgreSQL refuses a statement that updates one
// row twice.
func (s *Store) addCounts(ctx context.Context, keys []string, bucket int64, delta int, expires time.Time) error {
	seen := make(map[string]bool, len(keys))
	rows := make([]ThrottleCounter, 0, len(keys))
	var again []string
	for _, key := range keys {
		if seen[key] {
			again = append(again, key)
			continue
		}
		seen[key] = true
		rows = append(rows, ThrottleCounter{SubjectKey: key, Bucket: bucket, Count: delta, ExpiresAt: expires.UTC()})
	}
	err := s.db(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "subject_key"}, {Name: "bucket"}},
		DoUpdates: clause.Assignments(map[string]any{"count": increment(delta)}),
	}).Create(&rows).Error
	if err != nil || len(again) == 0 {
		return err
	}
	return s.addCounts(ctx, again, bucket, delta, expires)
}

// SumCounters returns each key's total over the buckets from first on. It reads in a transaction
// like AddFailures, whose statement it shares: with SQLite's one connection, a statement prepared
// outside a transaction while a transaction waits for the same statement would deadlock.
func (s *Store) SumCounters(ctx context.Context, keys []string, first int64) ([]int, error) {
	totals := make([]int, len(keys))
	err := s.Transaction(ctx, func(ctx context.Context) error {
		for i, key := range keys {
			var total int64
			if err := s.db(ctx).Model(&ThrottleCounter{}).Where("subject_key = ? AND bucket >= ?", key, first).
				Select("COALESCE(SUM(count), 0)").Scan(&total).Error; err != nil {
				return err
			}
			totals[i] = int(total)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: throttle sum: %w", err)
	}
	return totals, nil
}

// Lock locks key until until (extending, never shortening, an existing lock).
func (s *Store) Lock(ctx context.Context, key string, until time.Time) error {
	err := s.transaction(ctx, counterRetry, func(ctx context.Context) error {
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
