package cli

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lingpai/lingpai/internal/throttle"
	"github.com/lingpai/lingpai/storage"
)

// TestUserUnlockLiftsARealLockout: the keys user unlock deletes are the ones the regulator
// writes (hashed account keys), so an account locked by real failures signs in again at once.
func TestUserUnlockLiftsARealLockout(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "cli.db")
	t.Setenv("LINGPAI_DATABASE_DSN", dsn)
	cfg := filepath.Join("..", "config.yaml")
	if _, errOut, code := run(t, "user", "create", "--config", cfg, "--username", "dora", "--password", "dora-password-1"); code != 0 {
		t.Fatalf("user create: %d %s", code, errOut)
	}
	st, err := storage.Open(storage.Options{Driver: "sqlite", DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	reg := throttle.New(st, throttle.Options{MaxFailures: 2, IPMaxFailures: 100, Window: time.Hour, Lockout: time.Hour}, nil)
	for range 2 {
		if _, err := reg.Fail(ctx, "pwd:dora", "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := reg.Check(ctx, "pwd:dora", ""); !errors.Is(err, throttle.ErrLocked) {
		t.Fatalf("before unlock: %v, want locked", err)
	}
	out, errOut, code := run(t, "user", "unlock", "--config", cfg, "dora")
	if code != 0 || !strings.Contains(out, "dora unlocked") {
		t.Fatalf("unlock: %d %q %q", code, out, errOut)
	}
	if err := reg.Check(ctx, "pwd:dora", ""); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
}

// TestUserShowReportsAnImportedLockout: `user show` reports a lockout imported from
// IdentityServer4 as the admin API does (one rule, manage.LockedUntil), not only throttle locks.
func TestUserShowReportsAnImportedLockout(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "cli.db")
	t.Setenv("LINGPAI_DATABASE_DSN", dsn)
	cfg := filepath.Join("..", "config.yaml")
	if _, errOut, code := run(t, "user", "create", "--config", cfg, "--username", "erin", "--password", "erin-password-1"); code != 0 {
		t.Fatalf("user create: %d %s", code, errOut)
	}
	st, err := storage.Open(storage.Options{Driver: "sqlite", DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	u, err := st.UserByUsername(ctx, "erin")
	if err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	if err := st.SetUserLockout(ctx, u.ID, &until); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, "user", "show", "--config", cfg, "erin")
	if want := "locked: until " + until.Format(time.RFC3339); code != 0 || !strings.Contains(out, want) {
		t.Fatalf("user show: %d %q %q, want a line %q", code, out, errOut, want)
	}
}
