package hashing

import (
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"strings"
)

// Prefixes of hashes imported from IdentityServer4 and ASP.NET Core Identity. The imported value
// follows the prefix unchanged, so an import never has to understand or convert it, and the
// prefix makes the format unambiguous (a bare base64 string could be anything).
const (
	// ASPNetPrefix marks an AspNetUsers.PasswordHash (v2 or v3, told apart by its first byte).
	ASPNetPrefix = "$aspnet$"
	// IS4SHA256Prefix and IS4SHA512Prefix mark an IdentityServer4 SharedSecret: base64 of the
	// unsalted SHA-256 / SHA-512 of the secret (HashExtensions.Sha256/Sha512).
	IS4SHA256Prefix = "$is4-sha256$"
	IS4SHA512Prefix = "$is4-sha512$"
)

// ASPNetHash tags an AspNetUsers.PasswordHash for storage.
func ASPNetHash(passwordHash string) []byte { return []byte(ASPNetPrefix + passwordHash) }

// IS4SecretHash tags an IdentityServer4 SharedSecret value for storage, choosing SHA-256 or
// SHA-512 by the decoded length exactly as IS4's HashedSharedSecretValidator does (32 or 64
// bytes). Any other value is an error: IS4 itself fails the whole validation on it.
func IS4SecretHash(value string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return nil, fmt.Errorf("hashing: is4 secret is not base64: %w", ErrUnknownFormat)
	}
	switch len(raw) {
	case sha256.Size:
		return []byte(IS4SHA256Prefix + value), nil
	case sha512.Size:
		return []byte(IS4SHA512Prefix + value), nil
	}
	return nil, fmt.Errorf("hashing: is4 secret decodes to %d bytes, want 32 or 64: %w", len(raw), ErrUnknownFormat)
}

// NeedsRehash reports whether a stored password hash is a format lingpai accepts but does not
// write (imported ASP.NET Identity or bcrypt hashes): after a successful sign-in the caller
// replaces it with Hash's argon2id.
func NeedsRehash(stored []byte) bool {
	s := string(stored)
	return strings.HasPrefix(s, ASPNetPrefix) || strings.HasPrefix(s, "AQAAAA") ||
		strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")
}

// compareIS4 checks an IS4 SharedSecret: the presented secret hashed the same way, compared in
// constant time.
func compareIS4(encoded string, secret []byte, sum func([]byte) []byte) error {
	want, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return fmt.Errorf("hashing: is4 secret: %w", ErrUnknownFormat)
	}
	return equal(want, sum(secret))
}

func sha256Sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
func sha512Sum(b []byte) []byte { s := sha512.Sum512(b); return s[:] }

// aspnetHash is a parsed ASP.NET Core Identity PasswordHasher hash.
type aspnetHash struct {
	prf    func() hash.Hash
	salt   []byte
	iter   int
	subkey []byte
}

// parseASPNet reads an ASP.NET Core Identity PasswordHasher hash with the same rules as
// PasswordHasher.VerifyHashedPassword (dotnet/aspnetcore src/Identity/Extensions.Core):
// v2 = 0x00 | salt[16] | subkey[32], PBKDF2-HMAC-SHA1, 1000 iterations, exactly 49 bytes;
// v3 = 0x01 | prf u32 | iterations u32 | salt length u32 | salt | subkey (big endian), with salt
// length >= 16 and subkey (the rest) >= 16 bytes. Anything else is ErrUnknownFormat.
func parseASPNet(s string) (aspnetHash, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) == 0 {
		return aspnetHash{}, fmt.Errorf("hashing: aspnet: %w", ErrUnknownFormat)
	}
	switch raw[0] {
	case 0x00:
		if len(raw) != 1+16+32 {
			return aspnetHash{}, fmt.Errorf("hashing: aspnet v2 length %d: %w", len(raw), ErrUnknownFormat)
		}
		return aspnetHash{prf: sha1.New, salt: raw[1:17], iter: 1000, subkey: raw[17:]}, nil
	case 0x01:
		if len(raw) < 13 {
			return aspnetHash{}, fmt.Errorf("hashing: aspnet v3 header: %w", ErrUnknownFormat)
		}
		prf := binary.BigEndian.Uint32(raw[1:5])
		iter := binary.BigEndian.Uint32(raw[5:9])
		saltLen := binary.BigEndian.Uint32(raw[9:13])
		// Compare in uint64 so a huge salt length cannot overflow the bounds check; the iteration
		// cap stops a planted hash from costing minutes of CPU per sign-in.
		if saltLen < 16 || uint64(13)+uint64(saltLen)+16 > uint64(len(raw)) || iter == 0 || iter > maxPBKDF2Iterations ||
			len(raw)-13-int(saltLen) > maxKeyLen {
			return aspnetHash{}, fmt.Errorf("hashing: aspnet v3 layout: %w", ErrUnknownFormat)
		}
		h := aspnetHash{salt: raw[13 : 13+saltLen], iter: int(iter), subkey: raw[13+saltLen:]}
		switch prf {
		case 0:
			h.prf = sha1.New
		case 1:
			h.prf = sha256.New
		case 2:
			h.prf = sha512.New
		default:
			return aspnetHash{}, fmt.Errorf("hashing: aspnet v3 prf %d: %w", prf, ErrUnknownFormat)
		}
		return h, nil
	}
	return aspnetHash{}, fmt.Errorf("hashing: aspnet version byte %d: %w", raw[0], ErrUnknownFormat)
}

// CheckASPNet reports whether passwordHash is a well-formed ASP.NET Identity hash, without the
// cost of deriving a key: an importer uses it to report unreadable hashes row by row.
func CheckASPNet(passwordHash string) error {
	_, err := parseASPNet(passwordHash)
	return err
}

func compareASPNet(s string, secret []byte) error {
	h, err := parseASPNet(s)
	if err != nil {
		return err
	}
	return pbkdf2Equal(h.prf, secret, h.salt, h.iter, h.subkey)
}

func pbkdf2Equal(h func() hash.Hash, secret, salt []byte, iter int, want []byte) error {
	got, err := pbkdf2.Key(h, string(secret), salt, iter, len(want))
	if err != nil {
		return fmt.Errorf("hashing: aspnet pbkdf2: %w", err)
	}
	return equal(want, got)
}
