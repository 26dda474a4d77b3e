package storage

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// SMSCode is the one live one-time code of a phone. Only a keyed hash of the code is stored; a new
// code replaces the old one.
type SMSCode struct {
	Phone     string    `gorm:"primaryKey;size:32"`
	CodeHash  []byte    `gorm:"type:varbinary(64);not null"`
	Attempts  int       `gorm:"not null"`
	Used      bool      `gorm:"not null"`
	SentAt    time.Time `gorm:"not null"`
	ExpiresAt time.Time `gorm:"not null;index"`
}

// ErrTooEarly means a code was sent to this phone less than the resend interval ago.
var ErrTooEarly = errors.New("storage: code sent too recently")

// ReplaceSMSCode stores a new code for phone unless the previous one was sent after notBefore
// (compare-and-set, so two concurrent requests cannot both send), and returns the row it replaced
// (nil when phone had none), so that a code whose sending fails can be taken back with
// RestoreSMSCode. It returns ErrTooEarly with the current row, untouched, otherwise.
func (s *Store) ReplaceSMSCode(ctx context.Context, c *SMSCode, notBefore time.Time) (*SMSCode, error) {
	var prev *SMSCode
	err := s.Transaction(ctx, func(ctx context.Context) error {
		prev = nil
		old, err := s.lockSMSCode(ctx, c.Phone)
		if err != nil {
			return err
		}
		if old == nil {
			// ON CONFLICT DO NOTHING rather than catching the duplicate-key error: on PostgreSQL
			// any error aborts the transaction, so the read below could not run after one.
			res := s.db(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(c)
			if res.Error != nil {
				return fmt.Errorf("storage: put sms code: %w", res.Error)
			}
			if res.RowsAffected == 1 {
				return nil
			}
			// A concurrent first request stored one: read it under the lock.
			if old, err = s.lockSMSCode(ctx, c.Phone); err != nil {
				return err
			}
			if old == nil {
				return fmt.Errorf("storage: put sms code: row of %s vanished", c.Phone)
			}
		}
		prev = old
		res := s.db(ctx).Model(&SMSCode{}).Where("phone = ? AND sent_at <= ?", c.Phone, notBefore.UTC()).
			Updates(map[string]any{"code_hash": c.CodeHash, "attempts": 0, "used": false, "sent_at": c.SentAt, "expires_at": c.ExpiresAt})
		if res.Error != nil {
			return fmt.Errorf("storage: put sms code: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrTooEarly
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrTooEarly) {
		prev = nil
	}
	return prev, err
}

// lockSMSCode reads phone's code, locked for the rest of the transaction; nil when there is none.
func (s *Store) lockSMSCode(ctx context.Context, phone string) (*SMSCode, error) {
	var row SMSCode
	err := s.forUpdate(ctx).Where("phone = ?", phone).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("storage: put sms code: %w", err)
	}
	return &row, nil
}

// RestoreSMSCode takes back the code of phone whose hash is hash (one whose sending failed) and
// puts prev, the row ReplaceSMSCode returned, back as it was, so an earlier code stays
// redeemable; with no prev the row is deleted. Wrong tries made meanwhile still count against
// prev. Nothing changes when the row no longer holds hash (a newer code replaced it) or when the
// code was redeemed meanwhile (the gateway delivered it after all).
func (s *Store) RestoreSMSCode(ctx context.Context, phone string, hash []byte, prev *SMSCode) error {
	if prev == nil {
		if err := s.db(ctx).Where("phone = ? AND code_hash = ?", phone, hash).Delete(&SMSCode{}).Error; err != nil {
			return fmt.Errorf("storage: restore sms code: %w", err)
		}
		return nil
	}
	err := s.db(ctx).Model(&SMSCode{}).Where("phone = ? AND code_hash = ? AND used = ?", phone, hash, false).
		Updates(map[string]any{"code_hash": prev.CodeHash, "attempts": gorm.Expr("attempts + ?", prev.Attempts),
			"used": prev.Used, "sent_at": prev.SentAt, "expires_at": prev.ExpiresAt}).Error
	if err != nil {
		return fmt.Errorf("storage: restore sms code: %w", err)
	}
	return nil
}

// RedeemSMSCode uses the code of phone if hash matches (compared in constant time), the code is
// unused, unexpired and has had fewer than maxAttempts tries. Every try is counted before the
// comparison, by a conditional update that only succeeds below the limit, so parallel tries on any
// replica compare at most maxAttempts codes. Of concurrent redemptions exactly one succeeds.
// The use is a compare-and-set write (used = false → true, checking rows affected) that both
// contenders make to the same row, so on Galera certification fails one of them; the retried
// closure then finds the row used.
func (s *Store) RedeemSMSCode(ctx context.Context, phone string, hash []byte, maxAttempts int, now time.Time) (bool, error) {
	ok := false
	err := s.Transaction(ctx, func(ctx context.Context) error {
		ok = false
		res := s.db(ctx).Model(&SMSCode{}).
			Where("phone = ? AND used = ? AND attempts < ? AND expires_at > ?", phone, false, maxAttempts, now.UTC()).
			Update("attempts", gorm.Expr("attempts + 1"))
		if res.Error != nil || res.RowsAffected != 1 {
			return res.Error // no such code, used, expired or out of tries
		}
		var row SMSCode
		if err := s.db(ctx).Where("phone = ?", phone).Take(&row).Error; err != nil {
			return err
		}
		if !hmac.Equal(row.CodeHash, hash) {
			return nil // the try stays counted
		}
		res = s.db(ctx).Model(&SMSCode{}).Where("phone = ? AND used = ?", phone, false).Update("used", true)
		ok = res.RowsAffected == 1
		return res.Error
	})
	if err != nil {
		return false, fmt.Errorf("storage: redeem sms code: %w", err)
	}
	return ok, nil
}

// AddCount adds delta to the counter (key, bucket) and returns its new value: the send limits of
// SMS codes reserve a unit before sending and give it back when the send fails.
func (s *Store) AddCount(ctx context.Context, key string, bucket int64, delta int, expires time.Time) (int, error) {
	var row ThrottleCounter
	err := s.transaction(ctx, counterRetry, func(ctx context.Context) error {
		// Built afresh on every run: a retried run must not insert what a rolled-back run read.
		row = ThrottleCounter{SubjectKey: key, Bucket: bucket, Count: delta, ExpiresAt: expires.UTC()}
		if err := s.db(ctx).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "subject_key"}, {Name: "bucket"}},
			DoUpdates: clause.Assignments(map[string]any{"count": increment(delta)}),
		}).Create(&row).Error; err != nil {
			return err
		}
		return s.db(ctx).Where("subject_key = ? AND bucket = ?", key, bucket).Take(&row).Error
	})
	if err != nil {
		return 0, fmt.Errorf("storage: count %s: %w", key, err)
	}
	return row.Count, nil
}
