package storage

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// retryCounts counts, per Store, how often a conflict made Transaction run a closure again and
// how often the conflicts outlived the retries (answered 503): on a multi-primary cluster these
// are the certification failures an operator watches (lingpai_db_tx_retries_total).
type retryCounts struct {
	retried atomic.Uint64
	gaveUp  atomic.Uint64
}

// TxRetries reports how many times this store ran a transaction closure again after a conflict
// (deadlock, lock wait timeout, write conflict, Galera certification failure) and how many
// transactions still conflicted when the retries ran out.
func (s *Store) TxRetries() (retried, gaveUp uint64) {
	return s.retries.retried.Load(), s.retries.gaveUp.Load()
}

// retryPolicy bounds how often and how long a transaction closure is run again after a
// deadlock, lock timeout, write conflict or (Galera) certification failure.
type retryPolicy struct {
	attempts int           // runs in all, the first included
	base     time.Duration // backoff before the second run; doubles each time
	max      time.Duration // cap of one backoff
}

// defaultRetry gives about 0.6 s of backoff in all at most: enough for hot rows written from
// several Galera nodes at once (throttle counters), short enough to stay inside a request.
var defaultRetry = retryPolicy{attempts: 8, base: 5 * time.Millisecond, max: 200 * time.Millisecond}

// counterRetry is for the throttling and send-limit counters: one tiny upsert each, but the
// hottest rows there are (every guess at an account, every request from an IP), written from
// every node at once. 40 simultaneous sign-ins at one account over two Galera nodes ran out of
// defaultRetry's 8 runs now and then (503); this allows about 3 s, still within the query
// timeout that bounds every retry loop.
var counterRetry = retryPolicy{attempts: 16, base: 5 * time.Millisecond, max: 250 * time.Millisecond}

// backoff is the wait before run attempt+1 (attempt counts from 1): exponential, capped, with
// full jitter in [d/2, d*3/2) so that contenders that collided once do not collide again in step.
func (p retryPolicy) backoff(attempt int) time.Duration {
	d := p.base << (attempt - 1)
	if d > p.max || d <= 0 {
		d = p.max
	}
	return d/2 + rand.N(d)
}

// Transaction runs fn in a transaction and commits it, running the whole closure again (bounded,
// with jitter) when the database reports a deadlock, lock wait timeout, write conflict or
// serialization failure (see IsRetryable). Inside a transaction already carried by ctx it joins
// that one and does not retry: the outer owner decides.
//
// fn must be idempotent: it may run several times, and only the last run's writes are kept. A
// one-time use inside fn must be a compare-and-set write (UPDATE ... WHERE used = 0, checking
// rows affected), never a decision taken on an earlier read: then a retry after a lost race finds
// the row used and fails, and one use can never succeed twice.
func (s *Store) Transaction(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.transaction(ctx, defaultRetry, fn)
}

func (s *Store) transaction(ctx context.Context, p retryPolicy, fn func(ctx context.Context) error) error {
	if inTx(ctx) {
		return fn(ctx)
	}
	var err error
	start := time.Now()
	for attempt := 1; ; attempt++ {
		err = s.runTx(ctx, fn)
		if err == nil || !IsRetryable(err) { // IsRetryable is false for ErrUnavailable: no retry against a dead node
			return unavailable(err)
		}
		if attempt >= p.attempts {
			s.retries.gaveUp.Add(1)
			return fmt.Errorf("storage: transaction still conflicting after %d attempts: %w", attempt, err)
		}
		// A retry must not take a request past the query timeout: a database that stays busy
		// (a SQLite file locked by another process) is answered, not waited for.
		if errors.Is(err, context.DeadlineExceeded) || time.Since(start) > s.opts.QueryTimeout {
			s.retries.gaveUp.Add(1)
			return fmt.Errorf("storage: transaction: %w", err)
		}
		s.retries.retried.Add(1)
		select {
		case <-time.After(p.backoff(attempt)):
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		}
	}
}

// runTx runs fn once in a transaction whose begin (a connection from the pool, then BEGIN) is
// bounded by the query timeout; each statement is bounded by boundQueries.
func (s *Store) runTx(ctx context.Context, fn func(ctx context.Context) error) error {
	tx, cancel, err := beginBounded(s.gdb(), ctx, s.opts.QueryTimeout, s.txOptions())
	if err != nil {
		return err
	}
	defer cancel()
	committed := false
	defer func() {
		if !committed {
			tx.Rollback() // an error or a panic: nothing of fn stays
		}
	}()
	if err := fn(context.WithValue(ctx, txKey{}, &txState{tx: tx, cancel: func() {}})); err != nil {
		return err
	}
	if err := s.commitTx(tx); err != nil {
		return err
	}
	committed = true
	return nil
}
