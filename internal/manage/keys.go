package manage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/lingpai/lingpai/internal/keys"
	"github.com/lingpai/lingpai/storage"
)

// KeyView is a signing key without its private part.
type KeyView struct {
	KID       string     `json:"kid"`
	Algorithm string     `json:"alg"`
	CreatedAt time.Time  `json:"created_at"`
	RetiredAt *time.Time `json:"retired_at"`
	// Status: active (signs), retired (verifies tokens it signed until they expire).
	Status string `json:"status"`
}

// Keys lists the signing keys, newest first, including retired ones still published.
func (s *Service) Keys(ctx context.Context) ([]KeyView, error) {
	rows, err := s.Store.SigningKeys(ctx, time.Time{})
	if err != nil {
		return nil, err
	}
	out := []KeyView{}
	for _, k := range rows {
		v := KeyView{KID: k.KID, Algorithm: k.Algorithm, CreatedAt: k.CreatedAt.UTC(), Status: "active"}
		if k.RetiredAt != nil {
			t := k.RetiredAt.UTC()
			v.RetiredAt, v.Status = &t, "retired"
		}
		out = append(out, v)
	}
	return out, nil
}

// RotateKeys makes a new active key per configured algorithm; the old ones are retired and stay
// published until their tokens expire. Other replicas pick the new key up within cache_ttl.
func (s *Service) RotateKeys(ctx context.Context) (*KeyView, error) {
	k, err := keys.Rotate(ctx, s.Store, s.Config.Tokens.SigningAlgorithm)
	if err != nil {
		return nil, err
	}
	s.keysChanged(ctx)
	return &KeyView{KID: k.KID, Algorithm: k.Algorithm, CreatedAt: k.CreatedAt.UTC(), Status: "active"}, nil
}

// ErrConflict is a change the resource's state does not allow.
var ErrConflict = errors.New("manage: conflict")

// RetireKey stops a key signing: an active key is replaced by a new one of its algorithm (so
// something always signs); an already retired key is a conflict.
func (s *Service) RetireKey(ctx context.Context, kid string) (*KeyView, error) {
	if kid == "" {
		return nil, ErrNotFound // a zero struct condition would match every key
	}
	var k storage.SigningKey
	err := s.Store.DB(ctx).Where(&storage.SigningKey{KID: kid}).Take(&k).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("manage: retire key: %w", err)
	}
	if k.RetiredAt != nil {
		return nil, fmt.Errorf("%w: key %s is already retired", ErrConflict, kid)
	}
	next, err := keys.Generate(k.Algorithm)
	if err != nil {
		return nil, err
	}
	if err := s.Store.AddSigningKey(ctx, next); err != nil { // retires every earlier key of the algorithm
		return nil, err
	}
	s.keysChanged(ctx)
	return &KeyView{KID: next.KID, Algorithm: next.Algorithm, CreatedAt: next.CreatedAt.UTC(), Status: "active"}, nil
}

func (s *Service) keysChanged(ctx context.Context) {
	if s.Keyring != nil {
		if err := s.Keyring.Refresh(ctx); err != nil && s.Logger != nil {
			s.Logger.WarnContext(ctx, "keyring refresh after a key change failed; it reloads within cache_ttl", "error", err.Error())
		}
	}
}

// LockView is a live throttling lock (an account key acct:... or a client address ip:...).
type LockView struct {
	Key         string    `json:"key"`
	LockedUntil time.Time `json:"locked_until"`
}

// Locks lists the live throttling locks.
func (s *Service) Locks(ctx context.Context) ([]LockView, error) {
	var rows []storage.ThrottleLock
	if err := s.Store.DB(ctx).Where("locked_until > ?", s.now()).Order("subject_key").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("manage: locks: %w", err)
	}
	out := []LockView{}
	for _, r := range rows {
		out = append(out, LockView{Key: r.SubjectKey, LockedUntil: r.LockedUntil.UTC()})
	}
	return out, nil
}

// ClearLock lifts one lock and forgets the failures counted under its key.
func (s *Service) ClearLock(ctx context.Context, key string) error {
	var n int64
	err := s.Store.Transaction(ctx, func(ctx context.Context) error {
		res := s.Store.DB(ctx).Where("subject_key = ?", key).Delete(&storage.ThrottleLock{})
		if res.Error != nil {
			return res.Error
		}
		n = res.RowsAffected
		return s.Store.DB(ctx).Where("subject_key = ?", key).Delete(&storage.ThrottleCounter{}).Error
	})
	if err != nil {
		return fmt.Errorf("manage: clear lock: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// RevokeGrant revokes every token of one grant (the request a token belongs to).
func (s *Service) RevokeGrant(ctx context.Context, requestID string) error {
	return s.Store.RevokeFamily(ctx, requestID)
}
