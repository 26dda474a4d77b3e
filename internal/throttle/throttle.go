// Package throttle is the brute-force regulator shared by every credential grant: failures are
// counted per account and per client IP in the database (time-bucketed counters every replica
// sees), and past a limit the account or IP is locked out, right password or not.
package throttle

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrLocked means the account or the client IP is locked out.
var ErrLocked = errors.New("throttle: locked out")

// Store is the part of storage the regulator needs.
type Store interface {
	LockedKeys(ctx context.Context, keys []string, now time.Time) ([]string, error)
	AddFailure(ctx context.Context, key string, bucket, first int64, expires time.Time) (int, error)
	Lock(ctx context.Context, key string, until time.Time) error
	ResetFailures(ctx context.Context, key string) error
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

func accountKey(account string) string { return "acct:" + account }
func ipKey(ip string) string           { return "ip:" + ip }

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

// Fail records a failed attempt and locks the account or IP once its limit is reached. It reports
// whether this failure caused a lock, for the audit log.
func (r *Regulator) Fail(ctx context.Context, account, ip string) (locked bool, err error) {
	now := r.now()
	bucket, first := r.buckets(now)
	expires := now.Add(r.opts.Window + r.opts.Window/15 + time.Minute)
	type limit struct {
		key string
		max int
	}
	var limits []limit
	if account != "" {
		limits = append(limits, limit{accountKey(account), r.opts.MaxFailures})
	}
	if ip != "" {
		limits = append(limits, limit{ipKey(ip), r.opts.IPMaxFailures})
	}
	for _, l := range limits {
		n, err := r.store.AddFailure(ctx, l.key, bucket, first, expires)
		if err != nil {
			return locked, fmt.Errorf("throttle: count: %w", err)
		}
		if n >= l.max {
			if err := r.store.Lock(ctx, l.key, now.Add(r.opts.Lockout)); err != nil {
				return locked, fmt.Errorf("throttle: lock: %w", err)
			}
			locked = true
		}
	}
	return locked, nil
}

// Succeed forgets the account's failures. The IP's stay: one good password does not excuse a
// spray of bad ones from the same address.
func (r *Regulator) Succeed(ctx context.Context, account string) error {
	if account == "" {
		return nil
	}
	return r.store.ResetFailures(ctx, accountKey(account))
}

// Attempt runs verify under the regulator: the one sequence every credential check uses (the
// password grant, the custom grants, the sign-in page). A locked account or IP is refused before
// verify runs (ErrLocked, wrapped); an error of verify that failed reports as bad credentials is
// counted and returned; any other error of verify (an upstream outage) counts nothing; success
// forgets the account's failures. lockedNow reports that this failure locked the account or IP.
func (r *Regulator) Attempt(ctx context.Context, account, ip string, verify func() error, failed func(error) bool) (lockedNow bool, err error) {
	if r == nil {
		return false, verify()
	}
	if account != "" || ip != "" {
		if err := r.Check(ctx, account, ip); err != nil {
			return false, err
		}
	}
	if verr := verify(); verr != nil {
		if !failed(verr) {
			return false, verr
		}
		locked, ferr := r.Fail(ctx, account, ip)
		if ferr != nil {
			return false, ferr
		}
		return locked, verr
	}
	return false, r.Succeed(ctx, account)
}
