// Package keys manages JWT signing keys: generated on first start and kept in the database so every
// replica signs with the same key; parsed once and cached for server.cache_ttl; rotated with overlap,
// so tokens signed by a retired key keep verifying (and stay in the JWKS) until they have expired.
package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite/token/jwt"

	"github.com/lingpai/lingpai/storage"
)

// Store is the part of storage the keyring needs.
type Store interface {
	SigningKeys(ctx context.Context, retiredAfter time.Time) ([]storage.SigningKey, error)
	AddSigningKey(ctx context.Context, k *storage.SigningKey) error
	AddSigningKeyIfNone(ctx context.Context, k *storage.SigningKey) (bool, error)
}

// Options configures a Keyring.
type Options struct {
	Algorithm string        // RS256 or ES256, for generated keys
	CacheTTL  time.Duration // how long a loaded key set is trusted before re-reading the database
	// Overlap is how long a retired key stays published and verifying: the longest lifetime of a
	// token it may have signed.
	Overlap time.Duration
}

// IDTokenAlgorithm is the id_token algorithm every OpenID provider supports (OIDC Core 15.1,
// Discovery 3: "RS256 MUST be included"): a keyring for ES256 keeps an RS256 key beside its own.
const IDTokenAlgorithm = "RS256"

// set is one parsed snapshot of the keys.
type set struct {
	active   map[string]*jose.JSONWebKey // by algorithm: the newest unretired key
	byKID    map[string]*jose.JSONWebKey
	verify   map[string]*verifyKey // by kid: byKID's public halves, built once per load
	public   jose.JSONWebKeySet
	loadedAt time.Time
}

// Keyring serves the active signing key and every key that may still verify.
type Keyring struct {
	store   Store
	opts    Options
	now     func() time.Time
	cur     atomic.Pointer[set]
	loading sync.Mutex
}

// New loads the keys, generating the first one of each algorithm it needs when the database has
// none: opts.Algorithm, and RS256 for id_tokens.
func New(ctx context.Context, store Store, opts Options) (*Keyring, error) {
	if opts.Algorithm == "" {
		opts.Algorithm = IDTokenAlgorithm
	}
	k := &Keyring{store: store, opts: opts, now: time.Now}
	if _, err := k.load(ctx); err != nil {
		return nil, err
	}
	for _, alg := range algorithms(opts.Algorithm) {
		if k.cur.Load().active[alg] != nil {
			continue
		}
		nk, err := Generate(alg)
		if err != nil {
			return nil, err
		}
		if _, err := store.AddSigningKeyIfNone(ctx, nk); err != nil {
			return nil, err
		}
		if _, err := k.load(ctx); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// algorithms are the key algorithms a keyring for alg keeps active.
func algorithms(alg string) []string {
	if alg == IDTokenAlgorithm {
		return []string{alg}
	}
	return []string{alg, IDTokenAlgorithm}
}

// Generate makes a new key row: RSA-2048 for RS256, P-256 for ES256.
func Generate(alg string) (*storage.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case "RS256", "":
		alg = "RS256"
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("keys: unsupported algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: generate %s: %w", alg, err)
	}
	kidBytes := make([]byte, 12)
	if _, err := rand.Read(kidBytes); err != nil {
		return nil, err
	}
	kid := base64.RawURLEncoding.EncodeToString(kidBytes)
	jwk := jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: alg, Use: "sig"}
	raw, err := jwk.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("keys: encode: %w", err)
	}
	return &storage.SigningKey{KID: kid, Algorithm: alg, PrivateJWK: raw}, nil
}

// Rotate adds a new active key of alg (and of RS256, the id_token key, beside an ES256 one); the
// previous ones keep verifying for the overlap. It returns the new key of alg.
func Rotate(ctx context.Context, store Store, alg string) (*storage.SigningKey, error) {
	var first *storage.SigningKey
	for _, a := range algorithms(alg) {
		k, err := Generate(a)
		if err != nil {
			return nil, err
		}
		if err := store.AddSigningKey(ctx, k); err != nil {
			return nil, err
		}
		if first == nil {
			first = k
		}
	}
	return first, nil
}

func (k *Keyring) load(ctx context.Context) (*set, error) {
	rows, err := k.store.SigningKeys(ctx, k.now().Add(-k.opts.Overlap))
	if err != nil {
		return nil, fmt.Errorf("keys: load: %w", err)
	}
	s := &set{active: map[string]*jose.JSONWebKey{}, byKID: map[string]*jose.JSONWebKey{}, verify: map[string]*verifyKey{}, loadedAt: k.now()}
	for _, r := range rows {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(r.PrivateJWK); err != nil {
			return nil, fmt.Errorf("keys: parse %s: %w", r.KID, err)
		}
		// go-jose fills the CRT values but not crypto/rsa's own precomputation, without which
		// every signature re-derives and re-checks the key (about 15 % of an RS256 signature).
		if rk, ok := jwk.Key.(*rsa.PrivateKey); ok {
			rk.Precompute()
		}
		s.byKID[r.KID] = &jwk
		s.verify[r.KID] = newVerifyKey(&jwk)
		s.public.Keys = append(s.public.Keys, jwk.Public())
		if s.active[jwk.Algorithm] == nil && r.RetiredAt == nil {
			s.active[jwk.Algorithm] = &jwk
		}
	}
	k.cur.Store(s)
	return s, nil
}

// current returns the cached set, reloading it when older than the TTL.
func (k *Keyring) current(ctx context.Context) (*set, error) {
	return k.reloadIfOlder(ctx, k.opts.CacheTTL), nil
}

// reloadIfOlder returns the cached set, reloaded first when it is older than age. One caller
// reloads while the others keep using the previous set, so a slow database never stalls signing;
// a failed reload keeps what we have (readiness reports the database).
func (k *Keyring) reloadIfOlder(ctx context.Context, age time.Duration) *set {
	s := k.cur.Load()
	if k.now().Sub(s.loadedAt) < age || !k.loading.TryLock() {
		return s
	}
	defer k.loading.Unlock()
	if s = k.cur.Load(); k.now().Sub(s.loadedAt) < age { // reloaded meanwhile
		return s
	}
	if ns, err := k.load(ctx); err == nil {
		return ns
	}
	return s
}

// Refresh forces a reload (after a local rotation).
func (k *Keyring) Refresh(ctx context.Context) error {
	_, err := k.load(ctx)
	return err
}

// Active returns the signing key of the configured algorithm.
func (k *Keyring) Active(ctx context.Context) (*jose.JSONWebKey, error) {
	return k.ActiveFor(ctx, k.opts.Algorithm)
}

// ActiveFor returns the active key of alg.
func (k *Keyring) ActiveFor(ctx context.Context, alg string) (*jose.JSONWebKey, error) {
	s, err := k.current(ctx)
	if err != nil {
		return nil, err
	}
	if s.active[alg] == nil {
		return nil, fmt.Errorf("keys: no active %s signing key", alg)
	}
	return s.active[alg], nil
}

// Algorithms are the id_token signing algorithms the keyring can serve (discovery's
// id_token_signing_alg_values_supported): RS256 first, then the configured one.
func (k *Keyring) Algorithms() []string {
	a := algorithms(k.opts.Algorithm)
	slices.Reverse(a)
	return a
}

// PublicKeys returns the JWKS: the active key and every retired key still inside its overlap.
func (k *Keyring) PublicKeys(ctx context.Context) (jose.JSONWebKeySet, error) {
	s, err := k.current(ctx)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	return s.public, nil
}

// GetPrivateKey is a jwt.GetPrivateKeyFunc for fosite's id_token strategy.
func (k *Keyring) GetPrivateKey(ctx context.Context) (interface{}, error) { return k.Active(ctx) }

// Signer returns a fosite jwt.Signer that signs with the active key and verifies by kid, against
// every published key. fosite's DefaultSigner verifies with the current key only, so tokens signed
// before a rotation would turn inactive at once (ory/fosite#786).
func (k *Keyring) Signer() jwt.Signer {
	return &signer{k: k, def: &jwt.DefaultSigner{GetPrivateKey: k.GetPrivateKey}}
}

// IDTokenSigner is Signer for id_tokens: it signs with the RS256 key unless algFor, given the
// token's audience (the client id), names another algorithm the keyring holds
// (the client's id_token_signed_response_alg).
func (k *Keyring) IDTokenSigner(algFor func(ctx context.Context, clientID string) string) jwt.Signer {
	return &signer{k: k, def: &jwt.DefaultSigner{GetPrivateKey: k.GetPrivateKey}, algFor: algFor}
}

type signer struct {
	k      *Keyring
	def    *jwt.DefaultSigner
	algFor func(ctx context.Context, clientID string) string // nil: the configured algorithm
}

func (s *signer) Generate(ctx context.Context, claims jwt.MapClaims, header jwt.Mapper) (string, string, error) {
	if s.algFor == nil {
		return s.def.Generate(ctx, claims, header)
	}
	alg := s.algFor(ctx, audience(claims))
	key, err := s.k.ActiveFor(ctx, alg)
	if err != nil {
		// A client asking for an algorithm this configuration has no key for gets RS256, which
		// every client must accept (OIDC Core 15.1).
		if key, err = s.k.ActiveFor(ctx, IDTokenAlgorithm); err != nil {
			return "", "", err
		}
	}
	return fixed(key).Generate(ctx, claims, header)
}

// audience is the single audience of an id_token (the client id), "" when there is not one.
func audience(claims jwt.MapClaims) string {
	switch aud := claims["aud"].(type) {
	case string:
		return aud
	case []string:
		if len(aud) == 1 {
			return aud[0]
		}
	case []any:
		if len(aud) == 1 {
			s, _ := aud[0].(string)
			return s
		}
	}
	return ""
}

func (s *signer) keyFor(ctx context.Context, token string) (*jose.JSONWebKey, error) {
	head, _, ok := strings.Cut(token, ".")
	if !ok {
		return nil, &jwt.ValidationError{Errors: jwt.ValidationErrorMalformed, Inner: errors.New("not a JWT")}
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return nil, &jwt.ValidationError{Errors: jwt.ValidationErrorMalformed, Inner: err}
	}
	var h struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, &jwt.ValidationError{Errors: jwt.ValidationErrorMalformed, Inner: err}
	}
	key, err := s.k.lookup(ctx, h.KID)
	if err != nil {
		return nil, err
	}
	return key.jwk, nil
}

// lookup returns the published key that kid names, ready to verify with.
func (k *Keyring) lookup(ctx context.Context, kid string) (*verifyKey, error) {
	set, err := k.current(ctx)
	if err != nil {
		return nil, err
	}
	key, ok := set.verify[kid]
	if !ok {
		// A key rotated at another replica signs tokens before this one's cache_ttl is up: look
		// again, at most once per unknownKIDReload, so forged kids cannot hammer the database.
		key, ok = k.reloadIfOlder(ctx, unknownKIDReload).verify[kid]
	}
	if !ok {
		return nil, &jwt.ValidationError{Errors: jwt.ValidationErrorUnverifiable, Inner: fmt.Errorf("unknown kid %q", kid)}
	}
	return key, nil
}

// unknownKIDReload is the least time between reloads prompted by a token with an unknown kid.
const unknownKIDReload = time.Second

func fixed(key *jose.JSONWebKey) *jwt.DefaultSigner {
	return &jwt.DefaultSigner{GetPrivateKey: func(context.Context) (interface{}, error) { return key, nil }}
}

func (s *signer) Validate(ctx context.Context, token string) (string, error) {
	key, err := s.keyFor(ctx, token)
	if err != nil {
		return "", err
	}
	return fixed(key).Validate(ctx, token)
}

func (s *signer) Decode(ctx context.Context, token string) (*jwt.Token, error) {
	key, err := s.keyFor(ctx, token)
	if err != nil {
		return nil, err
	}
	return fixed(key).Decode(ctx, token)
}

func (s *signer) Hash(ctx context.Context, in []byte) ([]byte, error) { return s.def.Hash(ctx, in) }

func (s *signer) GetSignature(ctx context.Context, token string) (string, error) {
	return s.def.GetSignature(ctx, token)
}

func (s *signer) GetSigningMethodLength(ctx context.Context) int {
	return s.def.GetSigningMethodLength(ctx)
}

// VerifyJWS checks a compact JWS signed by one of the published keys (by kid) and returns its
// payload. Expiry is not checked: an id_token_hint at logout is usually expired, and that is fine.
func (k *Keyring) VerifyJWS(ctx context.Context, token string) ([]byte, error) {
	obj, err := jose.ParseSigned(token)
	if err != nil {
		return nil, fmt.Errorf("keys: parse: %w", err)
	}
	if len(obj.Signatures) != 1 {
		return nil, errors.New("keys: want exactly one signature")
	}
	s, err := k.current(ctx)
	if err != nil {
		return nil, err
	}
	key, ok := s.byKID[obj.Signatures[0].Header.KeyID]
	if !ok {
		return nil, errors.New("keys: unknown kid")
	}
	payload, err := obj.Verify(key.Public())
	if err != nil {
		return nil, fmt.Errorf("keys: verify: %w", err)
	}
	return payload, nil
}
