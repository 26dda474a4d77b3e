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
	"math/rand/v2"
	"time"

	"github.com/ory/fosite"
)

// ErrBusy means every attempt slot of the account or IP is held by checks still running (many
// simultaneous sign-ins of one account): 503 temporarily_unavailable, retry shortly.
var ErrBusy = fosite.ErrTemporarilyUnavailable.WithHint("Too many sign-ins of this account are being checked at once; retry shortly.")

// ErrLocked means the account or the client IP is locked out.
var ErrLocked = errors.New("throttle: locked out")

// Store is the part of storage the regulator needs.
type Store interface {
	LockedKeys(ctx context.Context, keys []string, now time.Time) ([]string, error)
	// AddFailures adds delta to each key's counter in bucket and returns each key's new total over
	// the buckets from first on, atomically (one transaction), so concurrent callers see distinct
	// counts.
	AddFailures(ctx context.Context, keys []string, bucket, first int64, delta int, expires time.Time) ([]int, error)
	// GiveBackFailures adds delta to each key's counter in bucket, reading nothing back.
	GiveBackFailures(ctx context.Context, keys []string, bucket int64, delta int, expires time.Time) error
	// SumCounters returns each key's total over the buckets from first on.
	SumCounters(ctx context.Context, keys []string, first int64) ([]int, error)
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
	gate  gate // in-process queue per account, in front of the database reservation
}

// New returns a regulator; now is injected so tests move time without sleeping.
func New(store Store, opts Options, now func() time.Time) *Regulator {
	if now == nil {
		now = time.Now
	}
	return &Regulator{store: store, opts: opts, now: now, gate: gate{}}
}

// Counter keys are a hash of the (already normalised) account or IP: fixed length whatever the
// input, so an over-long username is counted like any other rather than overflowing the column.
func accountKey(account string) string { return "acct:" + digest(account) }
func ipKey(ip string) string           { return "ip:" + digest(ip) }

// AccountKeys are the stored keys of account ("pwd:alice"): its lock and its counters, for an
// operator who lifts a lockout by hand (lingpai user unlock).
func AccountKeys(account string) []string {
	k := accountKey(account)
	return []string{k, failKey(k)}
}

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
	key string // slots: failures kept plus attempts in flight
	max int
}

// failKey counts the failures alone, to tell a limit reached by failures (locked) from one
// reached by attempts still being verified (wait for them).
func failKey(key string) string { return "f" + key }

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

func (r *Regulator) window() (res reservation) {
	now := r.now()
	res.bucket, res.first = r.buckets(now)
	res.expires = now.Add(r.opts.Window + r.opts.Window/15 + time.Minute)
	return res
}

// reserve takes one slot of each limit before the credential is checked. over lists the limits
// this attempt would exceed: it must not run.
func (r *Regulator) reserve(ctx context.Context, ls []limit) (res reservation, over []limit, err error) {
	res = r.window()
	for _, l := range ls {
		res.keys = append(res.keys, l.key)
	}
	totals, err := r.store.AddFailures(ctx, res.keys, res.bucket, res.first, 1, res.expires)
	if err != nil {
		return res, nil, fmt.Errorf("throttle: reserve: %w", err)
	}
	for i, l := range ls {
		if totals[i] > l.max {
			over = append(over, l)
		}
	}
	return res, over, nil
}

// giveBack returns a reservation whose attempt did not fail. It runs even if the request was
// cancelled: a reservation left behind would count as a failure.
func (r *Regulator) giveBack(ctx context.Context, res reservation) error {
	if len(res.keys) == 0 {
		return nil
	}
	if err := r.store.GiveBackFailures(context.WithoutCancel(ctx), res.keys, res.bucket, -1, res.expires); err != nil {
		return fmt.Errorf("throttle: give back: %w", err)
	}
	return nil
}

// fail records a failure (its slot stays taken) and locks the limits it fills.
func (r *Regulator) fail(ctx context.Context, ls []limit, res reservation) (locked bool, err error) {
	keys := make([]string, len(ls))
	for i, l := range ls {
		keys[i] = failKey(l.key)
	}
	totals, err := r.store.AddFailures(context.WithoutCancel(ctx), keys, res.bucket, res.first, 1, res.expires)
	if err != nil {
		return false, fmt.Errorf("throttle: count: %w", err)
	}
	var full []limit
	for i, l := range ls {
		if totals[i] >= l.max {
			full = append(full, l)
		}
	}
	return len(full) > 0, r.lock(ctx, full)
}

// failedOut lists the limits among over that failures alone have filled.
func (r *Regulator) failedOut(ctx context.Context, over []limit) ([]limit, error) {
	keys := make([]string, len(over))
	for i, l := range over {
		keys[i] = failKey(l.key)
	}
	res := r.window()
	totals, err := r.store.SumCounters(ctx, keys, res.first)
	if err != nil {
		return nil, fmt.Errorf("throttle: count: %w", err)
	}
	var out []limit
	for i, l := range over {
		if totals[i] >= l.max {
			out = append(out, l)
		}
	}
	return out, nil
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
	res, _, err := r.reserve(ctx, ls)
	if err != nil {
		return false, err
	}
	return r.fail(ctx, ls, res)
}

// busyWait bounds how long an attempt waits for slots held by attempts still being verified
// (right passwords give theirs back); past it the attempt is refused like a locked one.
const busyWait = 5 * time.Second

// Attempt runs verify under the regulator: the one sequence every credential check uses (the
// password grant, the custom grants, the sign-in page, client authentication). The attempt takes a
// slot before verify runs, atomically in the database, so parallel guesses on any number of
// replicas each take one of the limit's slots and at most throttle.max_failures (per account) and
// throttle.ip_max_failures (per IP) wrong credentials are ever verified in a window. When failures
// fill a limit the attempt is refused (ErrLocked, wrapped) without running verify; when attempts
// still in flight hold the slots, it waits for them (up to busyWait), since right passwords give
// their slots back. An error of verify that failed reports as bad credentials keeps its slot (a
// failure; the one that fills a limit locks the key); success or any other error (an upstream
// outage) gives the slot back. A success does not wipe earlier failures, which age out of the
// window: wiping them would hand parallel guesses fresh slots. lockedNow reports that this
// failure locked the account or IP.
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
	deadline := time.Now().Add(busyWait)
	if account != "" {
		release, err := r.gate.acquire(ctx, accountKey(account), r.opts.MaxFailures, deadline)
		if err != nil {
			return false, err
		}
		defer release()
	}
	var res reservation
	for {
		var over []limit
		if res, over, err = r.reserve(ctx, ls); err != nil {
			return false, err
		}
		if len(over) == 0 {
			break
		}
		// Refused or waiting: the slot goes back either way (a refusal is not a guess).
		if err := r.giveBack(ctx, res); err != nil {
			return false, err
		}
		full, err := r.failedOut(ctx, over)
		if err != nil {
			return false, err
		}
		if len(full) > 0 {
			// Locked for good measure, so later attempts stop at the cheap Check above.
			return false, errors.Join(fmt.Errorf("%w: limit reached", ErrLocked), r.lock(ctx, full))
		}
		if time.Now().After(deadline) {
			// The slots are held by checks still running, not by failures: the account is busy,
			// not guessed at. A retry succeeds; telling the client its password is wrong would not.
			return false, ErrBusy
		}
		select {
		case <-time.After(time.Duration(10+rand.IntN(30)) * time.Millisecond):
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	verr := verify()
	if verr != nil && failed(verr) {
		locked, err := r.fail(ctx, ls, res)
		if err != nil {
			return false, err
		}
		return locked, verr
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
