package grants

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/internal/session"
)

// TestApplyIdentityFiltersByScope: the claims that reach both tokens are those the granted scopes
// release (OIDC Core 5.4), whichever grant applies the identity.
func TestApplyIdentityFiltersByScope(t *testing.T) {
	claims := map[string]any{"name": "Ann", "preferred_username": "ann", "groups": []string{"g"},
		"email": "ann@example.com", "email_verified": true, "phone_number": "+8613800138000",
		"phone_number_verified": true, "address": map[string]any{"country": "CN"}, "tenant": "t1"}
	cases := []struct {
		scopes string
		want   []string
	}{
		{"openid", []string{"tenant"}},
		{"api1", []string{"tenant"}},
		{"openid profile", []string{"groups", "name", "preferred_username", "tenant"}},
		{"openid email", []string{"email", "email_verified", "tenant"}},
		{"openid phone", []string{"phone_number", "phone_number_verified", "tenant"}},
		{"openid address", []string{"address", "tenant"}},
		{"openid profile email phone address", slices.Sorted(maps.Keys(claims))},
	}
	for _, grant := range []string{"password", "password_ad", "sms", "wechat", "authorization_code"} {
		for _, tc := range cases {
			t.Run(grant+"/"+tc.scopes, func(t *testing.T) {
				sess := session.New()
				ApplyIdentity(sess, grant, Identity{Subject: "u1", Claims: claims}, fosite.Arguments(strings.Fields(tc.scopes)), StandardClaimSets())
				for kind, got := range map[string]map[string]any{"id_token": sess.IDTokenClaims().Extra, "access_token": sess.JWTClaims.Extra} {
					keys := slices.Sorted(maps.Keys(got))
					keys = slices.DeleteFunc(keys, func(k string) bool { return k == "amr" || k == "client_id" })
					if !slices.Equal(keys, tc.want) {
						t.Errorf("%s claims %v, want %v", kind, keys, tc.want)
					}
				}
			})
		}
	}
}

// TestClaimSetsRelease: a stored claim set (an imported IS4 identity resource) governs its claims
// as the standard scopes govern theirs: released only when the scope is granted, and a claim two
// scopes release comes with either. A stored set named like a standard scope adds to it.
func TestClaimSetsRelease(t *testing.T) {
	sets := StandardClaimSets().With(map[string][]string{
		"employee": {"employee_id", "department", "email"},
		"profile":  {"role"},
		"":         {"badge_no"}, // a disabled set: withheld
	})
	claims := map[string]any{"employee_id": "E7", "department": "R&D", "email": "ann@example.com", "role": "admin",
		"name": "Ann", "tenant": "t1", "badge_no": "B7"}
	cases := []struct {
		scopes string
		want   []string
	}{
		{"openid", []string{"tenant"}},
		{"openid employee", []string{"department", "email", "employee_id", "tenant"}},
		{"openid email", []string{"email", "tenant"}},
		{"openid profile", []string{"name", "role", "tenant"}},
		{"openid employee profile", []string{"department", "email", "employee_id", "name", "role", "tenant"}},
	}
	for _, tc := range cases {
		t.Run(tc.scopes, func(t *testing.T) {
			got := slices.Sorted(maps.Keys(sets.Release(claims, fosite.Arguments(strings.Fields(tc.scopes)))))
			if !slices.Equal(got, tc.want) {
				t.Errorf("released %v, want %v", got, tc.want)
			}
		})
	}
	if got := sets.Scopes(); slices.Contains(got, "") || !slices.Contains(got, "employee") {
		t.Fatalf("Scopes() %v", got)
	}
	if std := StandardClaimSets(); slices.Contains(std["profile"], "role") {
		t.Fatal("With changed the standard sets")
	}
}

// TestScopeClaimsReload: stored sets are read through Load and kept for TTL.
func TestScopeClaimsReload(t *testing.T) {
	loads := 0
	sc := &ScopeClaims{TTL: time.Hour, Load: func(context.Context) (map[string][]string, error) {
		loads++
		return map[string][]string{"employee": {"employee_id"}}, nil
	}}
	for range 3 {
		sets, err := sc.Sets(context.Background())
		if err != nil || !slices.Equal(sets["employee"], []string{"employee_id"}) || len(sets["email"]) != 2 {
			t.Fatalf("sets %v %v", sets, err)
		}
	}
	if loads != 1 {
		t.Fatalf("%d loads within the TTL, want 1", loads)
	}
	var none *ScopeClaims
	if sets, err := none.Sets(context.Background()); err != nil || len(sets) != 4 {
		t.Fatalf("nil ScopeClaims: %v %v", sets, err)
	}
}

// TestScopeClaimsConcurrentReloadReadsOnce: 50 requests arriving while the cache is stale share
// one read of the stored claim sets.
func TestScopeClaimsConcurrentReloadReadsOnce(t *testing.T) {
	var loads atomic.Int32
	release := make(chan struct{})
	sc := &ScopeClaims{TTL: time.Hour, Load: func(context.Context) (map[string][]string, error) {
		loads.Add(1)
		<-release
		return map[string][]string{"employee": {"employee_id"}}, nil
	}}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			sets, err := sc.Sets(context.Background())
			if err == nil && len(sets["employee"]) != 1 {
				err = fmt.Errorf("sets %v", sets)
			}
			errs <- err
		})
	}
	time.Sleep(50 * time.Millisecond) // let the callers pile up behind the first read
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d reads for 50 concurrent callers, want 1", n)
	}
}
