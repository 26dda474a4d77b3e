package janitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"github.com/lingpai/lingpai/storage"
)

// Target is one table the janitor sweeps: rows whose Column is before the sweep's cutoff go.
type Target struct {
	Table  string
	Column string
}

// CoreTargets are storage's tables with an expiry. Packages owning other tables (SMS codes, login
// sessions) append theirs.
func CoreTargets() []Target {
	return []Target{
		{"access_tokens", "expires_at"}, {"refresh_tokens", "expires_at"}, {"authorize_codes", "expires_at"},
		{"pkce_requests", "expires_at"}, {"oidc_sessions", "expires_at"}, {"client_assertion_jtis", "expires_at"}, {"token_revocations", "expires_at"},
		{"throttle_counters", "expires_at"}, {"throttle_locks", "locked_until"}, {"sms_codes", "expires_at"}, {"login_sessions", "expires_at"},
		// imported from IdentityServer4 (storage/imported.go): a refresh token past its end, a secret past its expiry
		{"legacy_refresh_tokens", "expires_at"}, {"client_secrets", "expires_at"},
	}
}

// DB is what the janitor needs from storage: a GORM handle and the dialect.
type DB interface {
	DB(ctx context.Context) *gorm.DB
	Driver() string
}

// Observer is told how many rows went from which table (metrics.Metrics implements it).
type Observer interface {
	Swept(table string, n int64)
}

// Janitor sweeps Targets.
type Janitor struct {
	DB        DB
	Targets   []Target
	BatchSize int
	Logger    *slog.Logger
	Observer  Observer // optional
	Now       func() time.Time
	// Holder names this process in the lease row (host name and pid, say).
	Holder string
}

// Sweep deletes every expired row, one batch per statement, and returns the count per table. It
// takes no lease: "lingpai gc" calls it directly, Run calls it while holding the lease.
func (j *Janitor) Sweep(ctx context.Context) (map[string]int64, error) {
	cutoff := j.now().UTC()
	out := map[string]int64{}
	var errs []error
	for _, t := range j.Targets {
		n, err := j.sweepTable(ctx, t, cutoff)
		out[t.Table] = n
		if n > 0 && j.Observer != nil {
			j.Observer.Swept(t.Table, n)
		}
		if err != nil {
			// One broken table (not migrated yet, say) must not stop the others being swept.
			errs = append(errs, fmt.Errorf("janitor: %s: %w", t.Table, err))
			if ctx.Err() != nil {
				break
			}
		}
	}
	return out, errors.Join(errs...)
}

func (j *Janitor) sweepTable(ctx context.Context, t Target, cutoff time.Time) (int64, error) {
	batch := max(j.BatchSize, 1)
	stmt := deleteStatement(j.DB.Driver(), t)
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		// Each batch is its own autocommit statement: locks are held for one small delete only.
		res := j.DB.DB(ctx).Exec(stmt, cutoff, batch)
		if res.Error != nil {
			return total, res.Error
		}
		total += res.RowsAffected
		if res.RowsAffected < int64(batch) {
			return total, nil
		}
	}
}

// deleteStatement is a bounded delete. MySQL has DELETE ... LIMIT; SQLite (without the optional
// compile flag) and PostgreSQL do not, so they delete by physical row id (rowid, ctid) from a
// bounded subselect. A row moved by a concurrent update (new ctid) is simply left for the next
// batch: every reader checks expiry anyway.
func deleteStatement(driver string, t Target) string {
	switch driver {
	case "sqlite":
		return fmt.Sprintf("DELETE FROM %[1]s WHERE rowid IN (SELECT rowid FROM %[1]s WHERE %[2]s < ? LIMIT ?)", t.Table, t.Column)
	case "postgres":
		return fmt.Sprintf("DELETE FROM %[1]s WHERE ctid IN (SELECT ctid FROM %[1]s WHERE %[2]s < ? LIMIT ?)", t.Table, t.Column)
	}
	return fmt.Sprintf("DELETE FROM %s WHERE %s < ? LIMIT ?", t.Table, t.Column)
}

func (j *Janitor) now() time.Time {
	if j.Now != nil {
		return j.Now()
	}
	return time.Now()
}

// Run sweeps every interval until ctx ends, but only while this process holds the lease; the
// lease outlives one interval a little, so a crashed holder is replaced after about one interval.
func (j *Janitor) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		j.tick(ctx, interval)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (j *Janitor) tick(ctx context.Context, interval time.Duration) {
	held, err := AcquireLease(ctx, j.DB.DB(ctx), "janitor", j.Holder, j.now(), interval+interval/2)
	if storage.IsRetryable(err) {
		// Replicas on different Galera nodes taking the lease at once: certification lets one win
		// and fails the others (1213). That is "another replica sweeps this round", not a fault.
		j.Logger.DebugContext(ctx, "janitor: lease taken by another replica", "error", err)
		return
	}
	if err != nil {
		if ctx.Err() == nil {
			j.Logger.WarnContext(ctx, "janitor: lease", "error", err)
		}
		return
	}
	if !held {
		return // another replica sweeps this round
	}
	start := time.Now()
	counts, err := j.Sweep(ctx)
	var total int64
	for _, n := range counts {
		total += n
	}
	if err != nil && ctx.Err() == nil {
		j.Logger.WarnContext(ctx, "janitor: sweep", "error", err)
	}
	if total > 0 {
		j.Logger.InfoContext(ctx, "janitor swept expired rows", "event", "janitor.swept", "rows", total,
			"duration_ms", time.Since(start).Milliseconds())
	}
}
