package storage

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
)

// Key material at rest (private signing keys, system secrets) is sealed with AES-256-GCM under a
// key derived from a system secret (security.secrets): sealedPrefix, the 4-byte id of the secret,
// a 12-byte nonce, then the ciphertext. The row's identity is the additional data, so a sealed
// value copied into another row does not open. A value without the prefix is a row written before
// encryption was configured: it is read as it is, and sealed on its next write or by Reencrypt.
const sealedPrefix = "lpenc1:"

// ErrSealed means a value is encrypted under a secret this process was not given.
var ErrSealed = errors.New("storage: key material is encrypted under a secret not in security.secrets")

type sealKey struct {
	id   []byte
	aead cipher.AEAD
}

// sealer holds the AEADs of the configured secrets, the first of which seals.
type sealer struct{ keys []sealKey }

func newSealer(secrets [][]byte) (*sealer, error) {
	s := &sealer{}
	for i, secret := range secrets {
		key, err := hkdf.Key(sha256.New, secret, nil, "lingpai key material at rest v1", 32)
		if err != nil {
			return nil, fmt.Errorf("storage: derive key %d: %w", i, err)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(key)
		s.keys = append(s.keys, sealKey{id: sum[:4], aead: aead})
	}
	return s, nil
}

// enabled reports whether values are sealed on write.
func (s *sealer) enabled() bool { return s != nil && len(s.keys) > 0 }

// seal encrypts plain for the row named aad under the first secret (plain as it is when none).
func (s *sealer) seal(plain []byte, aad string) ([]byte, error) {
	if !s.enabled() {
		return plain, nil
	}
	k := s.keys[0]
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("storage: seal: %w", err)
	}
	out := append([]byte(sealedPrefix), k.id...)
	out = append(out, nonce...)
	return k.aead.Seal(out, nonce, plain, []byte(aad)), nil
}

// open returns the plaintext of a stored value (a legacy plaintext value as it is).
func (s *sealer) open(stored []byte, aad string) ([]byte, error) {
	if !bytes.HasPrefix(stored, []byte(sealedPrefix)) {
		return stored, nil
	}
	rest := stored[len(sealedPrefix):]
	if s != nil {
		for _, k := range s.keys {
			if len(rest) < 4+k.aead.NonceSize() || !bytes.Equal(rest[:4], k.id) {
				continue
			}
			nonce, ct := rest[4:4+k.aead.NonceSize()], rest[4+k.aead.NonceSize():]
			plain, err := k.aead.Open(nil, nonce, ct, []byte(aad))
			if err != nil {
				return nil, fmt.Errorf("storage: open %s: %w", aad, err)
			}
			return plain, nil
		}
	}
	return nil, fmt.Errorf("%w (%s)", ErrSealed, aad)
}

// current reports whether stored is sealed under the first secret already.
func (s *sealer) current(stored []byte) bool {
	return s.enabled() && bytes.HasPrefix(stored, append([]byte(sealedPrefix), s.keys[0].id...))
}

func signingKeyAAD(kid string) string { return "signing_key:" + kid }
func secretAAD(name string) string    { return "system_secret:" + name }

// EncryptsAtRest reports whether security.secrets was given, so key material is sealed on write.
func (s *Store) EncryptsAtRest() bool { return s.seal.enabled() }

// Reencrypt seals every private signing key and system secret under the first secret of
// security.secrets (lingpai keys reencrypt): rows in plaintext, or sealed under an older secret.
// It reports how many rows it rewrote.
func (s *Store) Reencrypt(ctx context.Context) (int, error) {
	if !s.seal.enabled() {
		return 0, errors.New("storage: reencrypt: security.secrets is not set")
	}
	n := 0
	err := s.Transaction(ctx, func(ctx context.Context) error {
		n = 0
		var keys []SigningKey
		if err := s.db(ctx).Find(&keys).Error; err != nil {
			return err
		}
		for _, k := range keys {
			if s.seal.current(k.PrivateJWK) {
				continue
			}
			sealed, err := s.reseal(k.PrivateJWK, signingKeyAAD(k.KID))
			if err != nil {
				return err
			}
			if err := s.db(ctx).Model(&SigningKey{}).Where(&SigningKey{KID: k.KID}).Update("private_jwk", sealed).Error; err != nil {
				return err
			}
			n++
		}
		var secrets []SystemSecret
		if err := s.db(ctx).Find(&secrets).Error; err != nil {
			return err
		}
		for _, sec := range secrets {
			if strings.HasPrefix(sec.Name, "lease:") || s.seal.current(sec.Value) {
				continue
			}
			sealed, err := s.reseal(sec.Value, secretAAD(sec.Name))
			if err != nil {
				return err
			}
			if err := s.db(ctx).Model(&SystemSecret{}).Where("name = ?", sec.Name).Update("value", sealed).Error; err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("storage: reencrypt: %w", err)
	}
	return n, nil
}

func (s *Store) reseal(stored []byte, aad string) ([]byte, error) {
	plain, err := s.seal.open(stored, aad)
	if err != nil {
		return nil, err
	}
	return s.seal.seal(plain, aad)
}
