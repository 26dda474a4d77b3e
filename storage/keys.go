package storage

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// SigningKeys returns every key that is active or retired after since, newest first.
func (s *Store) SigningKeys(ctx context.Context, retiredAfter time.Time) ([]SigningKey, error) {
	var keys []SigningKey
	err := s.db(ctx).Where("retired_at IS NULL OR retired_at > ?", retiredAfter.UTC()).
		Order("created_at DESC").Find(&keys).Error
	if err != nil {
		return nil, fmt.Errorf("storage: signing keys: %w", err)
	}
	for i := range keys {
		if keys[i].PrivateJWK, err = s.seal.open(keys[i].PrivateJWK, signingKeyAAD(keys[i].KID)); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// sealed is a copy of k with its private key sealed for storage (k keeps the plaintext).
func (s *Store) sealed(k *SigningKey) (*SigningKey, error) {
	c := *k
	var err error
	c.PrivateJWK, err = s.seal.seal(k.PrivateJWK, signingKeyAAD(k.KID))
	return &c, err
}

// AddSigningKey makes k the active key of its algorithm and retires the ones before it, in one
// transaction. (An ES256 configuration keeps an RS256 key active too, for id_tokens.)
func (s *Store) AddSigningKey(ctx context.Context, k *SigningKey) error {
	return s.Transaction(ctx, func(ctx context.Context) error {
		now := s.now()
		if err := s.db(ctx).Model(&SigningKey{}).Where("retired_at IS NULL AND algorithm = ?", k.Algorithm).Update("retired_at", now).Error; err != nil {
			return fmt.Errorf("storage: retire keys: %w", err)
		}
		k.CreatedAt, k.RetiredAt = now, nil
		row, err := s.sealed(k)
		if err != nil {
			return err
		}
		if err := s.db(ctx).Create(row).Error; err != nil {
			return fmt.Errorf("storage: add key: %w", err)
		}
		return nil
	})
}

// AddSigningKeyIfNone stores k only when no unretired key of its algorithm exists, so replicas
// starting together on an empty database agree on one key. It reports whether k was stored.
func (s *Store) AddSigningKeyIfNone(ctx context.Context, k *SigningKey) (bool, error) {
	stored := false
	err := s.Transaction(ctx, func(ctx context.Context) error {
		stored = false // a retried run must not report what a rolled-back run did
		// The lease row serialises first starts across replicas without GET_LOCK.
		if _, err := s.lease(ctx, "signing-key-init"); err != nil {
			return err
		}
		var n int64
		if err := s.db(ctx).Model(&SigningKey{}).Where("retired_at IS NULL AND algorithm = ?", k.Algorithm).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		k.CreatedAt = s.now()
		row, err := s.sealed(k)
		if err != nil {
			return err
		}
		stored = true
		return s.db(ctx).Create(row).Error
	})
	if err != nil {
		return false, fmt.Errorf("storage: initial key: %w", err)
	}
	return stored, nil
}

// lease locks a SystemSecret row by primary key for the rest of the transaction. It also writes
// the row: on Galera the lock holds on one node only, and it is the write, made by every
// contender to the same row, that makes certification let only one of them commit (the other is
// retried and then sees what the first did).
func (s *Store) lease(ctx context.Context, name string) (*SystemSecret, error) {
	row := SystemSecret{Name: "lease:" + name, Value: []byte{0}, CreatedAt: s.now()}
	if err := s.db(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return nil, fmt.Errorf("storage: lease %s: %w", name, err)
	}
	if err := s.forUpdate(ctx).Where("name = ?", row.Name).Take(&row).Error; err != nil {
		return nil, fmt.Errorf("storage: lease %s: %w", name, err)
	}
	stamp := make([]byte, 8)
	if _, err := rand.Read(stamp); err != nil {
		return nil, err
	}
	if err := s.db(ctx).Model(&SystemSecret{}).Where("name = ?", row.Name).Update("value", stamp).Error; err != nil {
		return nil, fmt.Errorf("storage: lease %s: %w", name, err)
	}
	return &row, nil
}

// Secret returns the named system secret, generating n random bytes on first use. Concurrent first
// uses on several replicas all end up with the value that was stored first.
func (s *Store) Secret(ctx context.Context, name string, n int) ([]byte, error) {
	var row SystemSecret
	err := s.db(ctx).Where("name = ?", name).Take(&row).Error
	if err == nil {
		return s.seal.open(row.Value, secretAAD(name))
	}
	if !errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("storage: secret %s: %w", name, err)
	}
	v := make([]byte, n)
	if _, err := rand.Read(v); err != nil {
		return nil, err
	}
	sealed, err := s.seal.seal(v, secretAAD(name))
	if err != nil {
		return nil, err
	}
	row = SystemSecret{Name: name, Value: sealed, CreatedAt: s.now()}
	if err := s.db(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return nil, fmt.Errorf("storage: secret %s: %w", name, err)
	}
	if err := s.db(ctx).Where("name = ?", name).Take(&row).Error; err != nil {
		return nil, fmt.Errorf("storage: secret %s: %w", name, err)
	}
	return s.seal.open(row.Value, secretAAD(name))
}
