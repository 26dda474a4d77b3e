package passwordad_test

import (
	"context"
	"log/slog"
	"net/url"
	"testing"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/grants"
	"github.com/lingpai/lingpai/grants/passwordad"
	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/internal/throttle"
	"github.com/lingpai/lingpai/internal/upstream/ldapdir"
	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/storagetest"
)

// directory answers every password with its one entry.
type directory struct{ entry ldapdir.Entry }

func (d *directory) Authenticate(context.Context, string, string) (ldapdir.Entry, error) {
	return d.entry, nil
}
func (d *directory) Lookup(context.Context, string) (ldapdir.Entry, error) { return d.entry, nil }
func (d *directory) RecheckOnRefresh() bool                                { return false }
func (d *directory) GroupClaims() bool                                     { return false }

// TestPhoneNumber: the directory's phone is the phone_number claim (E.164 when it is a number,
// as written otherwise), refreshed at every sign-in; the account never gets it as its phone.
func TestPhoneNumber(t *testing.T) {
	cases := []struct {
		name, region    string
		phone, later    string // telephoneNumber at the first and at the second sign-in
		want, wantLater any    // phone_number claims; nil = none
	}{
		{"international", "", "+86 138 0013 8000", "+86 138 0013 8000", "+8613800138000", "+8613800138000"},
		{"national, default region CN", "", "138-0013-8000", "139 0013 9000", "+8613800138000", "+8613900139000"},
		{"national, region GB", "GB", "020 7946 0018", "020 7946 0018", "+442079460018", "+442079460018"},
		{"00 prefix", "", "0086 13800138000", "0086 13800138000", "+8613800138000", "+8613800138000"},
		{"extension", "", "8000", "8000", "8000", "8000"},
		{"none", "", "", "", nil, nil},
		{"removed", "", "+86 138 0013 8000", "", "+8613800138000", nil},
		{"added", "", "", "+86 138 0013 8000", nil, "+8613800138000"},
	}
	for _, b := range storagetest.Backends() {
		for _, tc := range cases {
			t.Run(b.Name+"/"+tc.name, func(t *testing.T) {
				st := b.Open(t, storage.Options{})
				acc, err := accounts.New(st, hashing.Hasher{}, throttle.New(st, throttle.Options{}, nil), slog.New(slog.DiscardHandler))
				if err != nil {
					t.Fatal(err)
				}
				dir := &directory{ldapdir.Entry{ID: "guid-1", Username: "alice", Name: "Alice", Email: "alice@corp.example", Phone: tc.phone}}
				g := &passwordad.Grant{Directory: dir, Accounts: acc, PhoneRegion: tc.region}
				req := grants.Request{Form: url.Values{"username": {"alice"}, "password": {"pw"}}}
				ctx := context.Background()
				first, err := g.Authenticate(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				if got := first.Claims["phone_number"]; got != tc.want {
					t.Fatalf("first sign-in phone_number %v, want %v", got, tc.want)
				}
				u, err := st.UserByID(ctx, first.Subject)
				if err != nil {
					t.Fatal(err)
				}
				// A directory phone is a claim, never the account's SMS sign-in phone (AD users can
				// often edit their own telephoneNumber).
				if u.Phone != nil {
					t.Fatalf("account phone %q, want none", *u.Phone)
				}
				dir.entry.Phone = tc.later
				later, err := g.Authenticate(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				if later.Subject != first.Subject {
					t.Fatal("subject changed")
				}
				if got := later.Claims["phone_number"]; got != tc.wantLater {
					t.Fatalf("later sign-in phone_number %v, want %v", got, tc.wantLater)
				}
				// The stored claims (what refresh and userinfo overlay) say the same when the
				// directory gave a phone.
				if tc.wantLater != nil {
					claims, err := acc.Claims(ctx, first.Subject)
					if err != nil {
						t.Fatal(err)
					}
					if claims["phone_number"] != tc.wantLater {
						t.Fatalf("stored claims phone_number %v, want %v", claims["phone_number"], tc.wantLater)
					}
				}
			})
		}
	}
}
