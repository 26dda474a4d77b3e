package is4import

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/lingpai/lingpai/storage"
)

// ParseSigningKey reads IdentityServer4's signing key and the kid its tokens carry:
//   - a JWK such as 4.x's tempkey.jwk (AddDeveloperSigningCredential): its kid;
//   - 3.x's tempkey.rsa ({"KeyId", "Parameters"}): its KeyId;
//   - PEM (PKCS#1, PKCS#8 or SEC 1 key, optionally with its CERTIFICATE), or PKCS#12 with
//     password: with a certificate the kid is IS4 4.x's AddSigningCredential one, the uppercase
//     hex SHA-1 thumbprint followed by the algorithm (X509SecurityKey.KeyId + "RS256").
//
// kid, when set, overrides what is derived (a bare PEM key has none: IS4 used what the host set).
func ParseSigningKey(data []byte, password, kid string) (*jose.JSONWebKey, error) {
	var jwk *jose.JSONWebKey
	var cert *x509.Certificate
	trimmed := bytes.TrimSpace(data)
	switch {
	case bytes.HasPrefix(trimmed, []byte("{")):
		var err error
		if jwk, err = parseJSONKey(trimmed); err != nil {
			return nil, err
		}
	case bytes.Contains(trimmed, []byte("-----BEGIN")):
		var key crypto.PrivateKey
		for rest := trimmed; ; {
			var block *pem.Block
			if block, rest = pem.Decode(rest); block == nil {
				break
			}
			switch block.Type {
			case "CERTIFICATE":
				c, err := x509.ParseCertificate(block.Bytes)
				if err != nil {
					return nil, fmt.Errorf("is4import: signing key certificate: %w", err)
				}
				if cert == nil {
					cert = c
				}
			case "RSA PRIVATE KEY":
				k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
				if err != nil {
					return nil, fmt.Errorf("is4import: signing key: %w", err)
				}
				key = k
			case "PRIVATE KEY":
				k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
				if err != nil {
					return nil, fmt.Errorf("is4import: signing key: %w", err)
				}
				key = k
			case "EC PRIVATE KEY":
				k, err := x509.ParseECPrivateKey(block.Bytes)
				if err != nil {
					return nil, fmt.Errorf("is4import: signing key: %w", err)
				}
				key = k
			}
		}
		if key == nil {
			return nil, errors.New("is4import: signing key: the PEM file holds no private key")
		}
		jwk = &jose.JSONWebKey{Key: key}
	default:
		// PKCS#12 as IS4 hosts load it (X509Certificate2 from a .pfx): legacy RC2/3DES or
		// OpenSSL 3's default PBES2 with AES-256 and a SHA-256 MAC.
		key, c, _, err := pkcs12.DecodeChain(data, password)
		switch {
		case errors.Is(err, pkcs12.ErrIncorrectPassword):
			return nil, errors.New("is4import: signing key: wrong PKCS#12 password (--signing-key-password-file)")
		case err != nil:
			return nil, fmt.Errorf("is4import: signing key is neither JWK, PEM nor a readable PKCS#12 file: %w", err)
		}
		jwk, cert = &jose.JSONWebKey{Key: key}, c
	}
	switch k := jwk.Key.(type) {
	case *rsa.PrivateKey:
		if jwk.Algorithm == "" {
			jwk.Algorithm = "RS256"
		}
	case *ecdsa.PrivateKey:
		if jwk.Algorithm == "" {
			jwk.Algorithm = "ES256"
		}
	default:
		return nil, fmt.Errorf("is4import: signing key: want an RSA or EC private key, got %T", k)
	}
	if jwk.KeyID == "" && cert != nil {
		sum := sha1.Sum(cert.Raw)
		jwk.KeyID = strings.ToUpper(hex.EncodeToString(sum[:])) + jwk.Algorithm
	}
	if kid != "" {
		jwk.KeyID = kid
	}
	if jwk.KeyID == "" {
		return nil, errors.New("is4import: signing key has no kid (a bare key): give the kid IS4's tokens carry")
	}
	jwk.Use = "sig"
	return jwk, nil
}

// parseJSONKey reads a JWK, or 3.x's tempkey.rsa (RSAParameters in standard base64).
func parseJSONKey(b []byte) (*jose.JSONWebKey, error) {
	var legacy struct {
		KeyID      string `json:"KeyId"`
		Parameters *struct {
			D, DP, DQ, Exponent, InverseQ, Modulus, P, Q string
		}
	}
	if err := json.Unmarshal(b, &legacy); err == nil && legacy.Parameters != nil {
		p := legacy.Parameters
		n := func(s string) *big.Int {
			raw, _ := base64.StdEncoding.DecodeString(s)
			return new(big.Int).SetBytes(raw)
		}
		key := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: n(p.Modulus), E: int(n(p.Exponent).Int64())},
			D: n(p.D), Primes: []*big.Int{n(p.P), n(p.Q)}}
		if err := key.Validate(); err != nil {
			return nil, fmt.Errorf("is4import: tempkey.rsa: %w", err)
		}
		key.Precompute()
		return &jose.JSONWebKey{Key: key, KeyID: legacy.KeyID}, nil
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("is4import: signing key JWK: %w", err)
	}
	if jwk.IsPublic() {
		return nil, errors.New("is4import: signing key JWK has no private part")
	}
	return &jwk, nil
}

// importSigningKey stores the key: active (lingpai signs with it) or published and verifying
// until the longest-lived token IS4 may have signed with it has expired.
func (im *importer) importSigningKey(ctx context.Context, kr *KindReport) error {
	o := im.opts
	kr.Read = 1
	jwk := o.signingKey
	raw, err := jwk.MarshalJSON()
	if err != nil {
		return fmt.Errorf("is4import: signing key: %w", err)
	}
	life := 3600 // IS4's default AccessTokenLifetime
	if im.src.has(ctx, "Clients") {
		var longest *int
		if err := im.src.tx.QueryRowContext(ctx, "SELECT MAX("+im.src.q("AccessTokenLifetime")+") FROM "+im.src.t("Clients")).Scan(&longest); err == nil && longest != nil && *longest > life {
			life = *longest
		}
	}
	var n int64
	im.store.DB(ctx).Model(&storage.SigningKey{}).Where("k_id = ?", jwk.KeyID).Count(&n)
	row := &storage.SigningKey{KID: jwk.KeyID, Algorithm: jwk.Algorithm, PrivateJWK: raw}
	if err := im.store.SaveImportedSigningKey(ctx, row, o.SigningKeyActive, o.Now().Add(time.Duration(life)*time.Second)); err != nil {
		return err
	}
	if n > 0 {
		kr.Updated++
	} else {
		kr.Imported++
	}
	role := fmt.Sprintf("published for verification until %d s after this run", life)
	if o.SigningKeyActive {
		role = "active: lingpai signs with it"
	}
	kr.note(jwk.KeyID, "%s key, %s", jwk.Algorithm, role)
	return nil
}
