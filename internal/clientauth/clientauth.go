package clientauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/internal/reqctx"
	"github.com/lingpai/lingpai/internal/throttle"
)

// maxEntries bounds the cache; past it the cache starts over (entries are one per client and
// secret, so only a deployment with this many active chosen-secret clients ever reaches it).
const maxEntries = 10000

// Verifier checks a presented client secret against the client's stored hash.
type Verifier struct {
	hasher    hashing.Hasher
	regulator *throttle.Regulator
	logger    *slog.Logger
	ttl       time.Duration
	now       func() time.Time
	key       []byte // random per process: cache keys mean nothing outside it

	mu       sync.Mutex
	entries  map[[sha256.Size]byte]entry
	inflight map[[sha256.Size]byte]chan struct{} // slow checks running, closed when done
}

type entry struct {
	client string
	exp    time.Time
}

var _ fosite.Hasher = (*Verifier)(nil)

// Options configure a Verifier.
type Options struct {
	Hasher    hashing.Hasher
	Regulator *throttle.Regulator // nil: failures are not counted
	Logger    *slog.Logger
	// TTL is how long a successful check of a slow hash is remembered (server.cache_ttl); 0
	// remembers nothing.
	TTL time.Duration
	Now func() time.Time
}

// New returns a Verifier with a fresh random cache key.
func New(o Options) (*Verifier, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("clientauth: cache key: %w", err)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Verifier{hasher: o.Hasher, regulator: o.Regulator, logger: o.Logger, ttl: o.TTL, now: o.Now, key: key,
		entries: map[[sha256.Size]byte]entry{}, inflight: map[[sha256.Size]byte]chan struct{}{}}, nil
}

// Hash implements fosite.Hasher (new client secrets a person chose: slow).
func (v *Verifier) Hash(ctx context.Context, secret []byte) ([]byte, error) {
	return v.hasher.Hash(ctx, secret)
}

// Compare implements fosite.Hasher for client authentication. The client id comes from the
// request's context (Middleware and NoteClient), the IP from reqctx.
//
//   - A generated secret (one SHA-256) is checked directly; only a mismatch goes to the
//     regulator, so the hot path makes no database round trip. A 256-bit secret cannot be
//     guessed, so letting a right one through while its client+IP is locked costs nothing.
//   - A slow hash is looked up in the cache first (a hit means this exact secret matched this
//     exact stored hash within the TTL); a miss runs the hash under throttle.Attempt, and only a
//     success is remembered. Failures are never cached.
//
// A refusal by the regulator is reported as a mismatch, so the client sees the same 401
// invalid_client as for a wrong secret.
func (v *Verifier) Compare(ctx context.Context, stored, secret []byte) error {
	client := clientFrom(ctx)
	alts := hashing.Alternatives(stored) // a client with several live secrets: one check for all
	var slow [][]byte
	for _, alt := range alts {
		if !hashing.IsFast(alt) {
			slow = append(slow, alt)
			continue
		}
		if err := v.hasher.Compare(ctx, alt, secret); err == nil {
			return nil
		} else if !failed(err) {
			return err
		}
	}
	if len(slow) == 0 {
		return v.attempt(ctx, client, func() error { return hashing.ErrMismatch })
	}
	keys := make([][sha256.Size]byte, len(slow))
	for i, alt := range slow {
		keys[i] = v.cacheKey(client, alt, secret)
		if v.cached(keys[i]) {
			return nil
		}
	}
	// When an entry expires, every request of a busy client misses at once; one slow check
	// runs and the others with the same key wait for its outcome instead of queueing a hash
	// each. After a failure each runs (and is counted) on its own.
	k := v.cacheKey(client, stored, secret)
	if wait, leader := v.lead(k); !leader {
		select {
		case <-wait:
		case <-ctx.Done():
			return hashing.ErrBusy.WithWrap(ctx.Err())
		}
		for _, key := range keys {
			if v.cached(key) {
				return nil
			}
		}
	} else {
		defer v.follow(k, wait)
	}
	matched := -1
	err := v.attempt(ctx, client, func() error {
		for i, alt := range slow {
			err := v.hasher.Compare(ctx, alt, secret)
			if err == nil {
				matched = i
				return nil
			}
			if !failed(err) {
				return err
			}
		}
		return hashing.ErrMismatch
	})
	if err != nil {
		if errors.Is(err, hashing.ErrBusy) {
			noteBusy(ctx)
		}
		return err
	}
	v.remember(keys[matched], client)
	return nil
}

// failed reports whether a Compare error is a wrong secret (counted), not an overload or outage.
func failed(err error) bool {
	return errors.Is(err, hashing.ErrMismatch) || errors.Is(err, hashing.ErrUnknownFormat)
}

func (v *Verifier) attempt(ctx context.Context, client string, verify func() error) error {
	ip := reqctx.From(ctx).ClientIP
	// Per client id + IP: a guesser locks out only itself, never the client's own servers at
	// other addresses; the IP's own counter (throttle.ip_max_failures) still covers a spray
	// over many client ids.
	account := "client:" + client
	if ip != "" {
		account += "@" + ip
	}
	lockedNow, err := v.regulator.Attempt(ctx, account, ip, verify, failed)
	switch {
	case errors.Is(err, throttle.ErrLocked):
		v.logger.WarnContext(ctx, "client authentication refused", "event", "client.auth_failed", "reason", "throttled",
			"attempted_client_id", client, "request_id", reqctx.From(ctx).RequestID)
		return fmt.Errorf("%w: %w", hashing.ErrMismatch, err)
	case err != nil && failed(err):
		v.logger.InfoContext(ctx, "client authentication failed", "event", "client.auth_failed", "reason", "bad_secret",
			"attempted_client_id", client, "request_id", reqctx.From(ctx).RequestID, "throttled_now", lockedNow)
		if lockedNow {
			v.logger.WarnContext(ctx, "client throttled", "event", "client.throttled", "attempted_client_id", client,
				"request_id", reqctx.From(ctx).RequestID)
		}
	}
	return err
}

// cacheKey identifies (client id, presented secret, stored hash) without keeping the secret: an
// HMAC under the per-process key. The stored hash is part of it, so a changed secret misses.
func (v *Verifier) cacheKey(client string, stored, secret []byte) [sha256.Size]byte {
	m := hmac.New(sha256.New, v.key)
	for _, part := range [][]byte{[]byte(client), stored, secret} {
		var n [4]byte
		n[0], n[1], n[2], n[3] = byte(len(part)>>24), byte(len(part)>>16), byte(len(part)>>8), byte(len(part))
		m.Write(n[:])
		m.Write(part)
	}
	var k [sha256.Size]byte
	m.Sum(k[:0])
	return k
}

// lead returns the channel of the check of k in flight (leader false), or registers one for the
// caller to run (leader true; it must call follow when done).
func (v *Verifier) lead(k [sha256.Size]byte) (ch chan struct{}, leader bool) {
	if v.ttl <= 0 {
		return nil, true
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if ch, ok := v.inflight[k]; ok {
		return ch, false
	}
	ch = make(chan struct{})
	v.inflight[k] = ch
	return ch, true
}

// follow ends the leader's check of k: the waiters look at the cache again.
func (v *Verifier) follow(k [sha256.Size]byte, ch chan struct{}) {
	if ch == nil {
		return
	}
	v.mu.Lock()
	delete(v.inflight, k)
	v.mu.Unlock()
	close(ch)
}

func (v *Verifier) cached(k [sha256.Size]byte) bool {
	if v.ttl <= 0 {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.entries[k]
	if ok && v.now().After(e.exp) {
		delete(v.entries, k)
		return false
	}
	return ok
}

func (v *Verifier) remember(k [sha256.Size]byte, client string) {
	if v.ttl <= 0 {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.entries) >= maxEntries {
		v.entries = map[[sha256.Size]byte]entry{}
	}
	v.entries[k] = entry{client: client, exp: v.now().Add(v.ttl)}
}

// Forget drops every remembered success of a client: its secret changed, or it was disabled or
// deleted (storage calls this on every change of a client in this process).
func (v *Verifier) Forget(client string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for k, e := range v.entries {
		if e.client == client {
			delete(v.entries, k)
		}
	}
}

// Len is the number of remembered successes (for tests and metrics).
func (v *Verifier) Len() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.entries)
}

type holderKey struct{}

// holder carries the id of the client being authenticated from fosite's client lookup to the
// secret check, which fosite calls with the stored hash and the secret only.
type holder struct {
	mu   sync.Mutex
	id   string
	busy bool // a secret check found the hashing limit full (see Busy)
}

// WithHolder returns ctx ready to carry the id of the client a request authenticates.
func WithHolder(ctx context.Context) context.Context {
	if _, ok := ctx.Value(holderKey{}).(*holder); ok {
		return ctx
	}
	return context.WithValue(ctx, holderKey{}, &holder{})
}

// Middleware gives every request a holder (see WithHolder).
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(WithHolder(r.Context())))
	})
}

// NoteClient records the client fosite looked up for this request; the secret check that
// follows reads it. Outside a request with a holder it does nothing.
func NoteClient(ctx context.Context, id string) {
	if h, ok := ctx.Value(holderKey{}).(*holder); ok {
		h.mu.Lock()
		h.id = id
		h.mu.Unlock()
	}
}

// Busy reports whether a secret check of this request was refused because the hashing limit
// stayed full. fosite's introspection drops the cause of a failed client authentication, so its
// handler asks here to answer 503 rather than 401.
func Busy(ctx context.Context) bool {
	if h, ok := ctx.Value(holderKey{}).(*holder); ok {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.busy
	}
	return false
}

func noteBusy(ctx context.Context) {
	if h, ok := ctx.Value(holderKey{}).(*holder); ok {
		h.mu.Lock()
		h.busy = true
		h.mu.Unlock()
	}
}

func clientFrom(ctx context.Context) string {
	if h, ok := ctx.Value(holderKey{}).(*holder); ok {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.id
	}
	return ""
}
