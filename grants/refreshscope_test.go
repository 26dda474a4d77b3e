package grants

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"testing"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/internal/session"
)

// TestRefreshScope: after fosite's refresh handler restored the family's scopes, a scope sent with
// the refresh narrows them; one not originally granted is invalid_scope; the refresh token to be
// stored keeps the family's scope.
func TestRefreshScope(t *testing.T) {
	family := fosite.Arguments{"openid", "offline_access", "api1", "api2"}
	for _, tt := range []struct {
		name, scope string
		want        fosite.Arguments
		err         error
	}{
		{"omitted", "", family, nil},
		{"narrower", "api1 offline_access", fosite.Arguments{"api1", "offline_access"}, nil},
		{"same", "openid offline_access api1 api2", family, nil},
		{"not granted", "api1 admin", nil, fosite.ErrInvalidScope},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ar := fosite.NewAccessRequest(session.New())
			ar.GrantTypes = fosite.Arguments{"refresh_token"}
			ar.Form = url.Values{"scope": {tt.scope}}
			for _, s := range family {
				ar.GrantScope(s)
			}
			err := RefreshScope{}.HandleTokenEndpointRequest(context.Background(), ar)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if !slices.Equal(ar.GetGrantedScopes(), tt.want) {
				t.Fatalf("granted %v, want %v", ar.GetGrantedScopes(), tt.want)
			}
			stored := KeepRefreshScope(ar.Sanitize(nil))
			if !slices.Equal(stored.GetGrantedScopes(), family) {
				t.Fatalf("refresh token stored with %v, want the family's %v", stored.GetGrantedScopes(), family)
			}
		})
	}
	// Other grants are not its business.
	ar := fosite.NewAccessRequest(session.New())
	ar.GrantTypes = fosite.Arguments{"password"}
	if err := (RefreshScope{}).HandleTokenEndpointRequest(context.Background(), ar); !errors.Is(err, fosite.ErrUnknownRequest) {
		t.Fatalf("password request: %v", err)
	}
}
