package ldapdir_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lingpai/lingpai/internal/testutil/testrig"
	"github.com/lingpai/lingpai/internal/upstream/ldapdir"
)

// TestDirectoryFaultsWithinTimeout: a refused, frozen (SIGSTOP) or slow directory answers
// within ldap.timeout: ErrUnavailable for refused and frozen (lingpai's 503), the sign-in itself
// for a directory slower than usual but within the timeout. A frozen directory was answered after
// twice ldap.timeout: the search on a pooled connection timed out and was retried on a fresh one.
func TestDirectoryFaultsWithinTimeout(t *testing.T) {
	const timeout = time.Second
	slack := 500 * time.Millisecond
	s := testrig.StartSlapd(t)
	cfg := slapdConfig(s)
	cfg.Timeout = timeout
	ctx := context.Background()
	authenticate := func(d *ldapdir.Directory) (time.Duration, error) {
		start := time.Now()
		_, err := d.Authenticate(ctx, "alice", testrig.AlicePass)
		return time.Since(start), err
	}
	pooled := open(t, cfg)
	if _, err := authenticate(pooled); err != nil {
		t.Fatal(err) // leaves a pooled service connection
	}
	for _, c := range []struct {
		name    string
		dir     *ldapdir.Directory
		fault   func()
		heal    func()
		wantErr error
	}{
		{"frozen, pooled connection", pooled, s.Freeze, s.Thaw, ldapdir.ErrUnavailable},
		{"frozen, fresh connection", open(t, cfg), s.Freeze, s.Thaw, ldapdir.ErrUnavailable},
		{"slow (frozen for half the timeout)", open(t, cfg), func() {
			s.Freeze()
			time.AfterFunc(timeout/2, s.Thaw)
		}, func() {}, nil},
		{"refused", open(t, cfg), s.Stop, s.Start, ldapdir.ErrUnavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.fault()
			took, err := authenticate(c.dir)
			c.heal()
			if !errors.Is(err, c.wantErr) || (c.wantErr == nil && err != nil) {
				t.Errorf("Authenticate: %v, want %v", err, c.wantErr)
			}
			if took > timeout+slack {
				t.Errorf("answered after %s; ldap.timeout is %s", took.Round(time.Millisecond), timeout)
			}
			t.Logf("answered %v after %s (ldap.timeout %s)", err, took.Round(time.Millisecond), timeout)
			// And the directory is used again once it is back, without a restart.
			if _, err := authenticate(c.dir); err != nil {
				t.Errorf("after the fault: %v", err)
			}
		})
	}
}
