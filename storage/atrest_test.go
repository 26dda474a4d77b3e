package storage_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/storagetest"
)

// TestKeyMaterialAtRest: signing keys and system secrets are sealed under the first of
// security.secrets and read under any of them; plaintext rows from before encryption are still
// read and sealed by Reencrypt; rotation is "new secret first, Reencrypt, drop the old one"; a
// process without the right secret refuses to read rather than using garbage.
func TestKeyMaterialAtRest(t *testing.T) {
	ctx := context.Background()
	oldSecret, newSecret := []byte("old-system-secret-0123456789abcdef"), []byte("new-system-secret-0123456789abcdef")
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			var dsn string
			switch b.Name {
			case "sqlite":
				dsn = filepath.Join(t.TempDir(), "lingpai.db")
			case "postgres":
				dsn = storagetest.PostgresDSN(t)
			default:
				dsn = storagetest.MySQLDSN(t)
			}
			open := func(secrets ...[]byte) *storage.Store {
				t.Helper()
				s, err := storage.Open(storage.Options{Driver: b.Name, DSN: dsn, Secrets: secrets})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Close() })
				if err := s.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
				return s
			}
			raw := func(s *storage.Store) (key, secret []byte) {
				t.Helper()
				var k storage.SigningKey
				var sec storage.SystemSecret
				if err := s.DB(ctx).Where(&storage.SigningKey{KID: "k1"}).Take(&k).Error; err != nil {
					t.Fatal(err)
				}
				if err := s.DB(ctx).Where("name = ?", "hmac").Take(&sec).Error; err != nil {
					t.Fatal(err)
				}
				return k.PrivateJWK, sec.Value
			}
			read := func(s *storage.Store) ([]byte, []byte, error) {
				keys, err := s.SigningKeys(ctx, time.Time{})
				if err != nil {
					return nil, nil, err
				}
				v, err := s.Secret(ctx, "hmac", 32)
				if err != nil || len(keys) != 1 {
					return nil, nil, err
				}
				return keys[0].PrivateJWK, v, nil
			}
			jwk := []byte(`{"kty":"RSA","d":"private"}`)

			// Before encryption was configured: plaintext rows.
			plain := open()
			if err := plain.AddSigningKey(ctx, &storage.SigningKey{KID: "k1", Algorithm: "RS256", PrivateJWK: jwk}); err != nil {
				t.Fatal(err)
			}
			hmacKey, err := plain.Secret(ctx, "hmac", 32)
			if err != nil {
				t.Fatal(err)
			}
			if k, _ := raw(plain); !bytes.Equal(k, jwk) {
				t.Fatal("without secrets the key is not stored as given")
			}

			// security.secrets: [old]. Plaintext rows still read; Reencrypt seals them.
			withOld := open(oldSecret)
			if k, v, err := read(withOld); err != nil || !bytes.Equal(k, jwk) || !bytes.Equal(v, hmacKey) {
				t.Fatalf("plaintext rows under a configured secret: %s %v", k, err)
			}
			if n, err := withOld.Reencrypt(ctx); err != nil || n != 2 {
				t.Fatalf("reencrypt: %d %v, want 2 rows", n, err)
			}
			k, v := raw(withOld)
			if bytes.Contains(k, []byte("private")) || bytes.Equal(v, hmacKey) {
				t.Fatalf("still plaintext after reencrypt: %q", k)
			}
			if k2, v2, err := read(withOld); err != nil || !bytes.Equal(k2, jwk) || !bytes.Equal(v2, hmacKey) {
				t.Fatalf("sealed rows read back: %s %v", k2, err)
			}
			if _, _, err := read(plain); !errors.Is(err, storage.ErrSealed) {
				t.Fatalf("a process without the secret read sealed rows: %v", err)
			}

			// Rotation: [new, old] reads rows under old and reseals them under new; then [new] alone.
			both := open(newSecret, oldSecret)
			if n, err := both.Reencrypt(ctx); err != nil || n != 2 {
				t.Fatalf("reencrypt under the new secret: %d %v", n, err)
			}
			if n, _ := both.Reencrypt(ctx); n != 0 {
				t.Fatalf("second reencrypt rewrote %d rows, want 0", n)
			}
			if k2, v2, err := read(open(newSecret)); err != nil || !bytes.Equal(k2, jwk) || !bytes.Equal(v2, hmacKey) {
				t.Fatalf("after rotation, the new secret alone: %s %v", k2, err)
			}
			if _, _, err := read(withOld); !errors.Is(err, storage.ErrSealed) {
				t.Fatalf("the retired secret still reads: %v", err)
			}

			// A sealed value copied to another row does not open (the row is the additional data).
			if err := both.DB(ctx).Model(&storage.SystemSecret{}).Create(&storage.SystemSecret{Name: "copy", Value: v, CreatedAt: time.Now().UTC()}).Error; err != nil {
				t.Fatal(err)
			}
			if _, err := both.Secret(ctx, "copy", 32); err == nil {
				t.Fatal("a sealed value opened under another row's name")
			}
		})
	}
}
