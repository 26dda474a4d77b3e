package hashing

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// ErrMismatch means the secret does not match the hash.
var ErrMismatch = errors.New("hashing: secret does not match")

// ErrUnknownFormat means the stored hash has a prefix this package does not know.
var ErrUnknownFormat = errors.New("hashing: unknown hash format")

const fastPrefix = "$sha256$"

// Argon2Params are the argon2id costs for new hashes. The defaults follow OWASP's minimum
// (19 MiB, 2 passes, 1 lane), which costs ~20-30 ms on one core here.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultArgon2 is used when a Hasher's params are zero.
var DefaultArgon2 = Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1}

// Hasher hashes and checks secrets. It satisfies fosite.Hasher, so fosite's client
// authentication calls it directly.
type Hasher struct {
	Argon2 Argon2Params
	// Limit bounds the slow hashes in flight process-wide (nil: no bound). Share one Limiter
	// between every Hasher of a process: the bound is on memory and CPU, not per caller.
	Limit *Limiter
}

// Hash returns a slow, salted argon2id hash: for secrets a person chose.
func (h Hasher) Hash(ctx context.Context, secret []byte) ([]byte, error) {
	release, err := h.Limit.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	p := h.Argon2
	if p.Memory == 0 {
		p = DefaultArgon2
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("hashing: salt: %w", err)
	}
	key := argon2.IDKey(secret, salt, p.Time, p.Memory, p.Threads, 32)
	enc := base64.RawStdEncoding
	return []byte(fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		enc.EncodeToString(salt), enc.EncodeToString(key))), nil
}

// HashGenerated returns a fast SHA-256 hash: only for secrets with at least 256 random bits, where a
// slow hash protects nothing and would cap the token endpoint's throughput.
func HashGenerated(secret []byte) []byte {
	sum := sha256.Sum256(secret)
	return []byte(fastPrefix + base64.RawStdEncoding.EncodeToString(sum[:]))
}

// Compare checks secret against a stored hash of any supported format in constant time. A slow
// format waits for a slot of h.Limit first and returns ErrBusy when none frees in time.
func (h Hasher) Compare(ctx context.Context, stored, secret []byte) error {
	s := string(stored)
	if strings.HasPrefix(s, anyPrefix) {
		return h.compareAny(ctx, stored, secret)
	}
	if strings.HasPrefix(s, fastPrefix) {
		return compareFast(s, secret)
	}
	release, err := h.Limit.Acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	return compareSlow(s, stored, secret)
}

func compareFast(s string, secret []byte) error {
	want, err := base64.RawStdEncoding.DecodeString(s[len(fastPrefix):])
	if err != nil {
		return fmt.Errorf("hashing: sha256 hash: %w", err)
	}
	sum := sha256.Sum256(secret)
	return equal(want, sum[:])
}

func compareSlow(s string, stored, secret []byte) error {
	switch {
	case strings.HasPrefix(s, "$argon2id$"):
		return compareArgon2(s, secret)
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		if cost, err := bcrypt.Cost(stored); err != nil || cost > maxBcryptCost {
			return fmt.Errorf("hashing: bcrypt cost: %w", ErrUnknownFormat) // cost 20 takes a minute of CPU
		}
		if err := bcrypt.CompareHashAndPassword(stored, secret); err != nil {
			return ErrMismatch
		}
		return nil
	case strings.HasPrefix(s, ASPNetPrefix):
		return compareASPNet(s[len(ASPNetPrefix):], secret)
	case strings.HasPrefix(s, "AQAAAA"):
		// An untagged v3 hash, as earlier lingpai versions accepted.
		return compareASPNet(s, secret)
	case strings.HasPrefix(s, IS4SHA256Prefix):
		return compareIS4(s[len(IS4SHA256Prefix):], secret, sha256Sum)
	case strings.HasPrefix(s, IS4SHA512Prefix):
		return compareIS4(s[len(IS4SHA512Prefix):], secret, sha512Sum)
	}
	return ErrUnknownFormat
}

func equal(a, b []byte) error {
	if subtle.ConstantTimeCompare(a, b) != 1 {
		return ErrMismatch
	}
	return nil
}

// Bounds on the costs a stored hash may name (far above every default: argon2id 19 MiB/t=2,
// ASP.NET Identity 10,000 to 100,000 iterations).
const (
	maxArgon2Time        = 16
	maxArgon2Threads     = 16
	maxArgon2Memory      = 256 * 1024 // KiB
	maxPBKDF2Iterations  = 1_000_000
	maxBcryptCost        = 14
	minKeyLen, maxKeyLen = 16, 64
)

func compareArgon2(s string, secret []byte) error {
	// $argon2id$v=19$m=19456,t=2,p=1$salt$hash
	parts := strings.Split(s, "$")
	if len(parts) != 6 {
		return fmt.Errorf("hashing: argon2id: %w", ErrUnknownFormat)
	}
	var p Argon2Params
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return fmt.Errorf("hashing: argon2id version %q: %w", parts[2], ErrUnknownFormat)
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return fmt.Errorf("hashing: argon2id params: %w", err)
	}
	// A stored hash names its own costs; imported ones are data, not code: costs outside what any
	// real deployment uses would panic (zero rounds or threads) or take unbounded memory or time.
	if p.Time < 1 || p.Time > maxArgon2Time || p.Threads < 1 || p.Threads > maxArgon2Threads ||
		p.Memory < 8*uint32(p.Threads) || p.Memory > maxArgon2Memory {
		return fmt.Errorf("hashing: argon2id params m=%d,t=%d,p=%d out of range: %w", p.Memory, p.Time, p.Threads, ErrUnknownFormat)
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return fmt.Errorf("hashing: argon2id salt: %w", err)
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil {
		return fmt.Errorf("hashing: argon2id key: %w", err)
	}
	if len(want) < minKeyLen || len(want) > maxKeyLen {
		return fmt.Errorf("hashing: argon2id key length %d: %w", len(want), ErrUnknownFormat)
	}
	got := argon2.IDKey(secret, salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return equal(want, got)
}

// IsFast reports whether stored is the fast generated-secret format.
func IsFast(stored []byte) bool { return strings.HasPrefix(string(stored), fastPrefix) }

// GenerateSecret returns a client secret with 256 random bits, base64url without padding.
func GenerateSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("hashing: generate secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
