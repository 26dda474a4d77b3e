package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/go-jose/go-jose/v3"
	jjson "github.com/go-jose/go-jose/v3/json"
	"github.com/ory/fosite/token/jwt"
)

// verifyKey is a published key ready to check signatures, built once per load: its algorithm and
// public key, so no verification rebuilds or re-derives them.
type verifyKey struct {
	jwk *jose.JSONWebKey
	alg string           // the only alg a token signed by this key may name
	rsa *rsa.PublicKey   // RS256
	ec  *ecdsa.PublicKey // ES256 (P-256)
}

func newVerifyKey(jwk *jose.JSONWebKey) *verifyKey {
	v := &verifyKey{jwk: jwk, alg: jwk.Algorithm}
	switch k := jwk.Key.(type) {
	case *rsa.PrivateKey:
		if v.alg == "RS256" {
			v.rsa = &k.PublicKey
		}
	case *ecdsa.PrivateKey:
		if v.alg == "ES256" && k.Curve == elliptic.P256() {
			v.ec = &k.PublicKey
		}
	}
	return v
}

// VerifyJWT checks a compact JWS signed by one of the published keys and returns its claims:
// the key is chosen by kid, the header's alg must be that key's, the signature must verify, and
// the claims must pass jwt.MapClaims.Valid (exp, iat, nbf), as fosite's Decode has them. It reads
// the token once (fosite's Decode, through go-jose, parses the claims twice and builds the
// verification key per call); the claims are decoded as fosite decodes them (integers as int64).
// Errors are *jwt.ValidationError with fosite's flags, except a key without a fast path
// (an imported key of another algorithm), which goes through fosite's Decode.
func (k *Keyring) VerifyJWT(ctx context.Context, token string) (jwt.MapClaims, error) {
	head, rest, ok := strings.Cut(token, ".")
	payload, sig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || strings.Contains(sig, ".") {
		return nil, invalid(jwt.ValidationErrorMalformed, errors.New("not a compact JWS"))
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return nil, invalid(jwt.ValidationErrorMalformed, err)
	}
	var h struct {
		Alg  string           `json:"alg"`
		KID  string           `json:"kid"`
		Crit jjson.RawMessage `json:"crit"`
		B64  jjson.RawMessage `json:"b64"`
	}
	if err := jjson.Unmarshal(raw, &h); err != nil { // go-jose's JSON: member names match exactly
		return nil, invalid(jwt.ValidationErrorMalformed, err)
	}
	if h.Crit != nil || h.B64 != nil { // lingpai signs neither
		return nil, invalid(jwt.ValidationErrorUnverifiable, errors.New("unsupported header extension"))
	}
	key, err := k.lookup(ctx, h.KID)
	if err != nil {
		return nil, err
	}
	if h.Alg != key.alg {
		return nil, invalid(jwt.ValidationErrorSignatureInvalid, fmt.Errorf("alg %q, want %q for kid %q", h.Alg, key.alg, h.KID))
	}
	if key.rsa == nil && key.ec == nil {
		t, err := fixed(key.jwk).Decode(ctx, token)
		if err != nil {
			return nil, err
		}
		return t.Claims, nil
	}
	s, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return nil, invalid(jwt.ValidationErrorMalformed, err)
	}
	digest := sha256.Sum256([]byte(token[:len(head)+1+len(payload)]))
	if !key.verify(digest[:], s) {
		return nil, invalid(jwt.ValidationErrorSignatureInvalid, errors.New("signature does not verify"))
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, invalid(jwt.ValidationErrorMalformed, err)
	}
	claims := jwt.MapClaims{}
	if err := claims.UnmarshalJSON(body); err != nil {
		return nil, invalid(jwt.ValidationErrorClaimsInvalid, err)
	}
	if err := claims.Valid(); err != nil {
		return nil, err
	}
	return claims, nil
}

func (v *verifyKey) verify(digest, sig []byte) bool {
	if v.rsa != nil {
		return rsa.VerifyPKCS1v15(v.rsa, crypto.SHA256, digest, sig) == nil
	}
	if len(sig) != 64 { // JWS: r and s, 32 bytes each (RFC 7518 section 3.4)
		return false
	}
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(v.ec, digest, r, s)
}

func invalid(flags uint32, err error) *jwt.ValidationError {
	return &jwt.ValidationError{Errors: flags, Inner: err}
}
