package grants

import (
	"maps"
	"slices"
	"strings"
	"testing"

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
				ApplyIdentity(sess, grant, Identity{Subject: "u1", Claims: claims}, fosite.Arguments(strings.Fields(tc.scopes)))
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
