// Package throttle is the brute-force regulator shared by every credential grant: failures are
// counted per account and per client IP in the database (time-bucketed counters every replica
// sees), and past a limit the account or IP is locked out, right password or not.
package throttle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// ErrLocked means the account or the client IP is locked out.
var ErrLocked = errors.New("throttle: locked out")

// Store is the part of storage the regulator needs.
type Store interface {
	LockedKeys(ctx context.Context, keys []string, now time.Time) ([]string, error)
	// AddFailures adds delta to each key's counter in bucket and returns each key's new total over
	// the buckets from first on, atomically (one transaction), so concurrent callers see distinct
	// counts.
	AddFailures(ctx context.Context, keys []string, bucket, first int64, delta int, expires time.Time) ([]int, error)
	Lock(ctx context.Context, key string, until time.Time) error
}

// Options are the limits (config keys throttle.*).
type Options struct {
	MaxFailures   int           // per account within Window
	IPMaxFailures int           // per client IP within Window
	Window        time.Duration // how far back failures count
	Lockout       time.Duration // how long a lock lasts
}

// Regulator counts failures and answers whether an attempt may proceed.
type Regulator struct {
	store Store
	opts  Options
	now   func() time.Time
}

// New returns a regulator; now is injected so tests move time without sleeping.
func New(store Store, opts Options, now func() time.Time) *Regulator {
	if now == nil {
		now = time.Now
	}
	return &Regulator{store: store, opts: opts, now: now}
}

// Counter keys are a hash of the (already normalised) account or IP: fixed length whatever the
// input, so an over-long username is counted like any other rather than overflowing the column.
func accountKey(account string) string { return "acct:" + digest(account) }
func ipKey(ip string) string           { return "ip:" + digest(ip) }

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Check returns ErrLocked when the account or IP is locked. account is namespaced by the caller
// ("pwd:alice", "ad:alice") so one grant's lockout does not spill into another's.
func (r *Regulator) Check(ctx context.Context, account, ip string) error {
	keys := make([]string, 0, 2)
	if account != "" {
		keys = append(keys, accountKey(account))
	}
	if ip != "" {
		keys = append(keys, ipKey(ip))
	}
	if len(keys) == 0 {
		return nil
	}
	locked, err := r.store.LockedKeys(ctx, keys, r.now())
	if err != nil {
		return fmt.Errorf("throttle: check: %w", err)
	}
	if len(locked) > 0 {
		return fmt.Errorf("%w: %v", ErrLocked, locked)
	}
	return nil
}

// bucketing splits the window into about 15 buckets so counts age out smoothly.
func (r *Regulator) buckets(now time.Time) (bucket, first int64) {
	size := r.opts.Window / 15
	if size < time.Second {
		size = time.Second
	}
	sec := int64(size / time.Second)
	bucket = now.Unix() / sec
	first = now.Add(-r.opts.Window).Unix()/sec + 1
	return bucket, first
}

type limit struct {
	key string
	max int
}

func (r *Regulator) limits(account, ip string) []limit {
	var ls []limit
	if account != "" {
		ls = append(ls, limit{accountKey(account), r.opts.MaxFailures})
	}
	if ip != "" {
		ls = append(ls, limit{ipKey(ip), r.opts.IPMaxFailures})
	}
	return ls
}

// reservation is one attempt counted in advance, in the bucket it was counted in, so it can be
// given back to that same bucket.
type reservation struct {
	keys    []string
	bucket  int64
	first   int64
	expires time.Time
}

// reserve counts one attempt against each limit before the credential is checked. over lists the
// limits this attempt exceeds (it must not run); reached those it fills exactly (a failure locks).
func (r *Regulator) reserve(ctx context.Context, ls []limit) (res reservation, over, reached []limit, err error) {
	now := r.now()
	res.bucket, res.first = r.buckets(now)
	res.expires = now.Add(r.opts.Window + r.opts.Window/15 + time.Minute)
	for _, l := range ls {
		res.keys = append(res.keys, l.key)
	}
	totals, err := r.store.AddFailures(ctx, res.keys, res.bucket, res.first, 1, res.expires)
	if err != nil {
		return res, nil, nil, fmt.Errorf("throttle: reserve: %w", err)
	}
	for i, l := range ls {
		switch {
		case totals[i] > l.max:
			over = append(over, l)
		case totals[i] == l.max:
			reached = append(reached, l)
		}
	}
	return res, over, reached, nil
}

// giveBack returns a reservation whose attempt did not fail. It runs even if the request was
// cancelled: a reservation left behind would count as a failure.
func (r *Regulator) giveBack(ctx context.Context, res reservation) error {
	if len(res.keys) == 0 {
		return nil
	}
	if _, err := r.store.AddFailures(context.WithoutCancel(ctx), res.keys, res.bucket, res.first, -1, res.expires); err != nil {
		return fmt.Errorf("throttle: give back: %w", err)
	}
	return nil
}

func (r *Regulator) lock(ctx context.Context, ls []limit) error {
	until := r.now().Add(r.opts.Lockout)
	for _, l := range ls {
		if err := r.store.Lock(ctx, l.key, until); err != nil {
			return fmt.Errorf("throttle: lock: %w", err)
		}
	}
	return nil
}

// Fail records a failed attempt and locks the account or IP once its limit is reached (a failure
// counted without Attempt, as by tests and tools). It reports whether this failure caused a lock.
func (r *Regulator) Fail(ctx context.Context, account, ip string) (locked bool, err error) {
	ls := r.limits(account, ip)
	if len(ls) == 0 {
		return false, nil
	}
	_, over, reached, err := r.reserve(ctx, ls)
	if err != nil {
		return false, err
	}
	full := append(over, reached...)
	return len(full) > 0, r.lock(ctx, full)
}

// Attempt runs verify under the regulator: the one sequence every credential check uses (the
// password grant, the custom grants, the sign-in page, client authentication). The attempt is
// counted before verify runs, atomically in the database, so parallel guesses on any number of
// replicas each take one of the limit's slots and at most throttle.max_failures (per account) and
// throttle.ip_max_failures (per IP) of them are ever verified in a window; the rest are refused
// (ErrLocked, wrapped) without running verify. An error of verify that failed reports as bad
// credentials keeps its slot (a failure, and the one that fills a limit locks the key); success or
// any other error (an upstream outage) gives the slot back. A success does not wipe earlier
// failures, which age out of the window: wiping them would hand parallel guesses fresh slots.
// lockedNow reports that this failure locked the account or IP.
func (r *Regulator) Attempt(ctx context.Context, account, ip string, verify func() error, failed func(error) bool) (lockedNow bool, err error) {
	if r == nil {
		return false, verify()
	}
	ls := r.limits(account, ip)
	if len(ls) == 0 {
		return false, verify()
	}
	if err := r.Check(ctx, account, ip); err != nil {
		return false, err
	}
	res, over, reached, err := r.reserve(ctx, ls)
	if err != nil {
		return false, err
	}
	if len(over) > 0 {
		// Refused: the slot is given back (a refusal is not a guess) and the lock made sure of, so
		// later attempts stop at the cheap Check above.
		return false, errors.Join(fmt.Errorf("%w: limit reached", ErrLocked), r.giveBack(ctx, res), r.lock(ctx, over))
	}
	verr := verify()
	if verr != nil && failed(verr) {
		if len(reached) > 0 {
			if err := r.lock(ctx, reached); err != nil {
				return false, err
			}
		}
		return len(reached) > 0, verr
	}
	if err := r.giveBack(ctx, res); err != nil {
		return false, errors.Join(verr, err)
	}
	return false, verr
}

// AttemptClient is Attempt for client authentication: failures count per client id and per IP
// under the same limits, in their own namespace so a client id never shares a counter with a
// username.
func (r *Regulator) AttemptClient(ctx context.Context, clientID, ip string, verify func() error, failed func(error) bool) (lockedNow bool, err error) {
	return r.Attempt(ctx, "client:"+clientID, ip, verify, failed)
}
