package ldapdir_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/lingpai/lingpai/internal/testutil/testrig"
	"github.com/lingpai/lingpai/internal/upstream/ldapdir"
)

func slapdConfig(s *testrig.Slapd) ldapdir.Config {
	return ldapdir.Config{URL: s.URL, BindDN: s.ServiceDN, BindPassword: testrig.ServicePass, BaseDN: testrig.UsersDN,
		Domain: testrig.Domain, UPNSuffix: testrig.UPNSuffix, IDAttribute: "entryUUID", GroupClaims: true}
}

func open(t testing.TB, cfg ldapdir.Config) *ldapdir.Directory {
	t.Helper()
	d, err := ldapdir.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func TestAuthenticateSlapd(t *testing.T) {
	s := testrig.StartSlapd(t)
	ctx := context.Background()
	cases := []struct {
		name, user, pass string
		want             error
	}{
		{"sAMAccountName", "alice", testrig.AlicePass, nil},
		{"UPN", "alice@corp.example", testrig.AlicePass, nil},
		{"NetBIOS domain", `CORP\alice`, testrig.AlicePass, nil},
		{"case-insensitive domain and name", `corp\ALICE`, testrig.AlicePass, nil},
		{"wrong password", "alice", "wrong", ldapdir.ErrInvalidCredentials},
		{"unknown user", "mallory", "whatever", ldapdir.ErrInvalidCredentials},
		{"empty password", "alice", "", ldapdir.ErrInvalidCredentials},
		{"foreign UPN suffix", "alice@evil.example", testrig.AlicePass, ldapdir.ErrInvalidCredentials},
		{"foreign domain", `EVIL\alice`, testrig.AlicePass, ldapdir.ErrInvalidCredentials},
		{"disabled", "carol", testrig.CarolPass, ldapdir.ErrAccountDisabled},
		{"injection: wildcard", "*", testrig.AlicePass, ldapdir.ErrInvalidCredentials},
		{"injection: filter break", "alice)(|(sAMAccountName=*", testrig.AlicePass, ldapdir.ErrInvalidCredentials},
		{"injection: backslash", `al\2aice`, testrig.AlicePass, ldapdir.ErrInvalidCredentials},
		{"injection: wildcard prefix", "ali*", testrig.AlicePass, ldapdir.ErrInvalidCredentials},
	}
	d := open(t, slapdConfig(s))
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			e, err := d.Authenticate(ctx, tt.user, tt.pass)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want == nil && (e.Username != "alice" || e.Name != "Alice Liddell" || e.ID == "" || len(e.Groups) != 1 || e.Groups[0] != "lingpai-users") {
				t.Fatalf("entry %+v", e)
			}
		})
	}
}

func TestGroupsTLSAndOutage(t *testing.T) {
	s := testrig.StartSlapd(t)
	ctx := context.Background()
	t.Run("required groups by CN and by DN", func(t *testing.T) {
		for _, groups := range [][]string{{"lingpai-admins"}, {"CN=lingpai-admins,CN=Users,DC=corp,DC=example"}, {"cn=LINGPAI-ADMINS,cn=users,dc=corp,dc=example"}} {
			cfg := slapdConfig(s)
			cfg.RequiredGroups = groups
			d := open(t, cfg)
			if _, err := d.Authenticate(ctx, "bob", testrig.BobPass); err != nil {
				t.Fatalf("bob with %v: %v", groups, err)
			}
			if _, err := d.Authenticate(ctx, "alice", testrig.AlicePass); !errors.Is(err, ldapdir.ErrNotInGroup) {
				t.Fatalf("alice with %v: %v", groups, err)
			}
		}
	})
	t.Run("LDAPS and StartTLS verify the CA", func(t *testing.T) {
		for name, cfg := range map[string]ldapdir.Config{
			"ldaps":    func() ldapdir.Config { c := slapdConfig(s); c.URL, c.CAFile = s.LDAPSURL, s.CAFile; return c }(),
			"starttls": func() ldapdir.Config { c := slapdConfig(s); c.StartTLS, c.CAFile = true, s.CAFile; return c }(),
		} {
			if _, err := open(t, cfg).Authenticate(ctx, "alice", testrig.AlicePass); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		c := slapdConfig(s)
		c.URL = s.LDAPSURL // no CA: the self-signed chain must be refused
		if _, err := open(t, c).Authenticate(ctx, "alice", testrig.AlicePass); !errors.Is(err, ldapdir.ErrUnavailable) {
			t.Fatalf("unverified certificate accepted: %v", err)
		}
	})
	t.Run("directory stopped, then back, without a new client", func(t *testing.T) {
		d := open(t, slapdConfig(s))
		if _, err := d.Authenticate(ctx, "alice", testrig.AlicePass); err != nil {
			t.Fatal(err)
		}
		s.Stop()
		if _, err := d.Authenticate(ctx, "alice", testrig.AlicePass); !errors.Is(err, ldapdir.ErrUnavailable) {
			t.Fatalf("stopped directory: %v", err)
		}
		s.Start()
		if _, err := d.Authenticate(ctx, "alice", testrig.AlicePass); err != nil {
			t.Fatalf("after restart: %v", err)
		}
	})
	t.Run("rename keeps the id; lookup sees a disabled user", func(t *testing.T) {
		d := open(t, slapdConfig(s))
		before, err := d.Authenticate(ctx, "dave", testrig.DavePass)
		if err != nil {
			t.Fatal(err)
		}
		s.Rename("Dave Nogroup", "David Nogroup", "david")
		after, err := d.Authenticate(ctx, "david", testrig.DavePass)
		if err != nil || after.ID != before.ID || after.Username != "david" {
			t.Fatalf("after rename: %+v %v (id before %s)", after, err, before.ID)
		}
		if _, err := d.Lookup(ctx, before.ID); err != nil {
			t.Fatalf("lookup: %v", err)
		}
		s.Disable("David Nogroup")
		if _, err := d.Lookup(ctx, before.ID); !errors.Is(err, ldapdir.ErrAccountDisabled) {
			t.Fatalf("lookup of a disabled user: %v", err)
		}
		if _, err := d.Lookup(ctx, "00000000-0000-0000-0000-000000000000"); !errors.Is(err, ldapdir.ErrInvalidCredentials) {
			t.Fatalf("lookup of a missing user: %v", err)
		}
	})
}

func TestValidate(t *testing.T) {
	cfg := ldapdir.Config{URL: "http://dc1", StartTLS: true}
	cfg.SetDefaults()
	cfg.UserFilter = "(uid=x)"
	msg := ""
	for _, e := range cfg.Validate("ldap") {
		msg += e.Error() + "\n"
	}
	for _, want := range []string{"ldap.url", "ldap.bind_dn", "ldap.bind_password", "ldap.base_dn", "ldap.user_filter"} {
		if !strings.Contains(msg, want) {
			t.Errorf("validation does not name %s:\n%s", want, msg)
		}
	}
}

func BenchmarkAuthenticateSlapd(b *testing.B) {
	s := testrig.StartSlapd(b)
	d := open(b, slapdConfig(s))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Authenticate(ctx, "alice", testrig.AlicePass); err != nil {
			b.Fatal(err)
		}
	}
}
