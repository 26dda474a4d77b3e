package ldapdir_test

import (
	"context"
	"errors"
	"testing"

	"github.com/lingpai/lingpai/internal/testutil/testrig"
	"github.com/lingpai/lingpai/internal/upstream/ldapdir"
)

// TestAuthenticateSamba runs against a real AD DC: AD binds and AD's sub-codes.
func TestAuthenticateSamba(t *testing.T) {
	dc := testrig.StartSamba(t)
	cfg := ldapdir.Config{URL: dc.URL, StartTLS: true, CAFile: dc.CAFile, BindDN: dc.ServiceDN, BindPassword: testrig.ServicePass,
		BaseDN: testrig.UsersDN, Domain: testrig.Domain, UPNSuffix: testrig.UPNSuffix, GroupClaims: true}
	d := open(t, cfg)
	ctx := context.Background()
	cases := []struct {
		name, user, pass string
		want             error
		sub              string
	}{
		{"sAMAccountName", "alice", testrig.AlicePass, nil, ""},
		{"UPN", "alice@corp.example", testrig.AlicePass, nil, ""},
		{"NetBIOS domain", `CORP\alice`, testrig.AlicePass, nil, ""},
		{"wrong password (52e)", "alice", "wrong", ldapdir.ErrInvalidCredentials, "52e"},
		{"unknown user", "mallory", "x", ldapdir.ErrInvalidCredentials, ""},
		{"empty password", "alice", "", ldapdir.ErrInvalidCredentials, ""},
		{"disabled", "carol", testrig.CarolPass, ldapdir.ErrAccountDisabled, ""},
		{"account expired (701)", "erin", testrig.ErinPass, ldapdir.ErrAccountDisabled, "701"},
		{"must change password (773)", "frank", testrig.FrankPass, ldapdir.ErrPasswordExpired, "773"},
		{"injection", "*)(sAMAccountName=*", testrig.AlicePass, ldapdir.ErrInvalidCredentials, ""},
		{"injection with a wildcard", "al*", testrig.AlicePass, ldapdir.ErrInvalidCredentials, ""},
		{"injection with a backslash", `CORP\al\2a`, testrig.AlicePass, ldapdir.ErrInvalidCredentials, ""},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			e, err := d.Authenticate(ctx, tt.user, tt.pass)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var f *ldapdir.Failure
			if tt.sub != "" && (!errors.As(err, &f) || f.SubCode != tt.sub) {
				t.Fatalf("sub-code of %v, want %s", err, tt.sub)
			}
			if tt.want == nil && (e.Username != "alice" || len(e.ID) != 36 || e.Email != "alice@corp.example") {
				t.Fatalf("entry %+v", e)
			}
		})
	}
	alice, _ := d.Authenticate(ctx, "alice", testrig.AlicePass)
	if got, err := d.Lookup(ctx, alice.ID); err != nil || got.DN != alice.DN {
		t.Fatalf("lookup by objectGUID %s: %+v %v", alice.ID, got, err)
	}
	// required_groups against real AD memberOf: a CN or a full DN; a user outside every listed
	// group gets the same refusal as a wrong password (the caller maps both to invalid_grant).
	for _, tt := range []struct {
		name  string
		group string
	}{{"required group by CN", "lingpai-admins"}, {"required group by DN", "CN=lingpai-admins," + testrig.UsersDN}} {
		t.Run(tt.name, func(t *testing.T) {
			gcfg := cfg
			gcfg.RequiredGroups = []string{tt.group}
			g := open(t, gcfg)
			if _, err := g.Authenticate(ctx, "bob", testrig.BobPass); err != nil {
				t.Fatalf("bob is in lingpai-admins: %v", err)
			}
			if _, err := g.Authenticate(ctx, "alice", testrig.AlicePass); !errors.Is(err, ldapdir.ErrNotInGroup) {
				t.Fatalf("alice is not in lingpai-admins: %v", err)
			}
		})
	}
	t.Run("lockout (775)", func(t *testing.T) {
		dc.SetLockoutThreshold(3)
		for i := 0; i < 3; i++ {
			_, _ = d.Authenticate(ctx, "dave", "wrong")
		}
		_, err := d.Authenticate(ctx, "dave", testrig.DavePass)
		var f *ldapdir.Failure
		if !errors.Is(err, ldapdir.ErrAccountLocked) || !errors.As(err, &f) || f.SubCode != "775" {
			t.Fatalf("locked account: %v", err)
		}
	})
}
