package hashing

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// aspnetV3 builds a hash the way ASP.NET Core Identity's PasswordHasher does (HMACSHA256, 10000 iterations).
func aspnetV3(t *testing.T, password string) string {
	salt := []byte("0123456789abcdef")
	key, err := pbkdf2.Key(sha256.New, password, salt, 10000, 32)
	if err != nil {
		t.Fatal(err)
	}
	out := []byte{0x01}
	out = binary.BigEndian.AppendUint32(out, 1)
	out = binary.BigEndian.AppendUint32(out, 10000)
	out = binary.BigEndian.AppendUint32(out, uint32(len(salt)))
	out = append(out, salt...)
	out = append(out, key...)
	return base64.StdEncoding.EncodeToString(out)
}

func TestCompare(t *testing.T) {
	ctx := context.Background()
	h := Hasher{Argon2: Argon2Params{Memory: 1024, Time: 1, Threads: 1}}
	slow, err := h.Hash(ctx, []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	bc, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), 4)
	tests := []struct {
		name   string
		stored []byte
		secret string
		want   error
	}{
		{"argon2id match", slow, "s3cret", nil},
		{"argon2id mismatch", slow, "s3cret ", ErrMismatch},
		{"fast match", HashGenerated([]byte("s3cret")), "s3cret", nil},
		{"fast mismatch", HashGenerated([]byte("s3cret")), "S3cret", ErrMismatch},
		{"bcrypt match", bc, "s3cret", nil},
		{"bcrypt mismatch", bc, "nope", ErrMismatch},
		{"aspnet v3 match", []byte(aspnetV3(t, "s3cret")), "s3cret", nil},
		{"aspnet v3 mismatch", []byte(aspnetV3(t, "s3cret")), "s3cre", ErrMismatch},
		{"plain text is never accepted", []byte("s3cret"), "s3cret", ErrUnknownFormat},
		{"empty stored hash", nil, "", ErrUnknownFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := h.Compare(ctx, tt.stored, []byte(tt.secret))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Compare = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestHashIsSalted(t *testing.T) {
	h := Hasher{Argon2: Argon2Params{Memory: 1024, Time: 1, Threads: 1}}
	a, _ := h.Hash(context.Background(), []byte("x"))
	b, _ := h.Hash(context.Background(), []byte("x"))
	if string(a) == string(b) {
		t.Fatal("two hashes of one secret are equal: no salt")
	}
	if IsFast(a) || !IsFast(HashGenerated([]byte("x"))) {
		t.Fatal("IsFast misclassifies")
	}
}

func TestGenerateSecretEntropy(t *testing.T) {
	s, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) < 32 {
		t.Fatalf("secret %q decodes to %d bytes, want >= 32", s, len(raw))
	}
}

func BenchmarkCompareFast(b *testing.B) {
	h, stored := Hasher{}, HashGenerated([]byte("generated-secret-value"))
	for b.Loop() {
		_ = h.Compare(context.Background(), stored, []byte("generated-secret-value"))
	}
}

func BenchmarkCompareArgon2Default(b *testing.B) {
	h := Hasher{}
	stored, _ := h.Hash(context.Background(), []byte("person-chosen"))
	for b.Loop() {
		_ = h.Compare(context.Background(), stored, []byte("person-chosen"))
	}
}
