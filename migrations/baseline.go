package migrations

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"strings"

	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"
)

// baseline records version 1 as applied on a database the release before goose created with GORM
// AutoMigrate, after checking that its schema is version 1's (baseline/<dialect>.txt). Without it,
// migration 1's CREATE TABLEs would fail on the existing tables.
func (m *Migrator) baseline(ctx context.Context) (*Applied, error) {
	st, err := m.State(ctx)
	if err != nil || !st.Legacy {
		return nil, err
	}
	unlock, err := m.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Another replica may have done it while this one waited for the lock.
	if st, err = m.State(ctx); err != nil || !st.Legacy {
		return nil, err
	}
	if err := m.VerifyLegacy(ctx); err != nil {
		return nil, err
	}
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	if err := m.store.CreateVersionTable(ctx, tx); err != nil {
		return nil, fmt.Errorf("migrations: create %s: %w", VersionTable, err)
	}
	for _, v := range []int64{0, 1} {
		if err := m.store.Insert(ctx, tx, database.InsertRequest{Version: v}); err != nil {
			return nil, fmt.Errorf("migrations: baseline: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("migrations: baseline: %w", err)
	}
	m.logger.Info("existing schema adopted as version 1", "event", "schema.baseline")
	return &Applied{Version: 1, Name: "00001_initial.sql", Direction: "baseline"}, nil
}

// VerifyLegacy checks, without changing anything, that a pre-goose database's tables are schema
// version 1, so they can be adopted (and, until then, used as version 1).
func (m *Migrator) VerifyLegacy(ctx context.Context) error {
	want, err := ExpectedSchema(m.dialect, 1)
	if err != nil {
		return err
	}
	have, err := Schema(ctx, m.db, m.dialect)
	if err != nil {
		return err
	}
	missing, extra := Diff(want, have)
	if len(missing) > 0 {
		return fmt.Errorf("migrations: the existing tables are not schema version 1, so they cannot be adopted (upgrade with the release that created them first); missing: %s", strings.Join(head(missing, 5), "; "))
	}
	if len(extra) > 0 {
		m.logger.Warn("schema has objects migration 1 does not create; kept", "extra", head(extra, 10))
	}
	return nil
}

// lock takes the migration lock goose uses, for work done outside goose (the baseline).
func (m *Migrator) lock(ctx context.Context) (func(), error) {
	switch l := m.locker.(type) {
	case lock.Locker:
		if err := l.Lock(ctx, m.db); err != nil {
			return nil, fmt.Errorf("migrations: lock: %w", err)
		}
		return func() { _ = l.Unlock(context.WithoutCancel(ctx), m.db) }, nil
	case lock.SessionLocker:
		conn, err := m.db.Conn(ctx)
		if err != nil {
			return nil, err
		}
		if err := l.SessionLock(ctx, conn); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("migrations: lock: %w", err)
		}
		return func() {
			_ = l.SessionUnlock(context.WithoutCancel(ctx), conn)
			_ = conn.Close()
		}, nil
	}
	return func() {}, nil
}

// ExpectedSchema is the schema (as Schema describes it) a database has at version, from the
// embedded baseline/<dialect>-<version>.txt that TestBaselineFiles keeps true.
func ExpectedSchema(dialect string, version int64) ([]string, error) {
	b, err := fs.ReadFile(files, fmt.Sprintf("baseline/%s-%d.txt", dialect, version))
	if err != nil {
		return nil, fmt.Errorf("migrations: no recorded schema for %s version %d: %w", dialect, version, err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if l := sc.Text(); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}

// Diff reports the lines of want missing from have, and those of have not in want.
func Diff(want, have []string) (missing, extra []string) {
	in := func(l []string) map[string]bool {
		m := make(map[string]bool, len(l))
		for _, s := range l {
			m[s] = true
		}
		return m
	}
	w, h := in(want), in(have)
	for _, s := range want {
		if !h[s] {
			missing = append(missing, s)
		}
	}
	for _, s := range have {
		if !w[s] {
			extra = append(extra, s)
		}
	}
	return missing, extra
}

func head(l []string, n int) []string {
	if len(l) > n {
		return append(l[:n:n], fmt.Sprintf("and %d more", len(l)-n))
	}
	return l
}

func tableExists(ctx context.Context, db *sql.DB, dialect, table string) (bool, error) {
	var q string
	switch dialect {
	case "sqlite":
		q = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	case "mysql":
		q = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?"
	case "postgres":
		q = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1"
	}
	var n int
	if err := db.QueryRowContext(ctx, q, table).Scan(&n); err != nil {
		return false, fmt.Errorf("migrations: look for table %s: %w", table, err)
	}
	return n > 0, nil
}
