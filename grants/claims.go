package grants

import "github.com/ory/fosite"

// scopeClaims maps each OIDC Core 5.4 scope to the standard claims it releases (plus lingpai's
// groups, released with profile). It is the one table every grant, the browser flow and userinfo
// filter claims through.
var scopeClaims = map[string][]string{
	"profile": {"name", "family_name", "given_name", "middle_name", "nickname", "preferred_username", "profile",
		"picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at", "groups"},
	"email":   {"email", "email_verified"},
	"phone":   {"phone_number", "phone_number_verified"},
	"address": {"address"},
}

// claimScope is scopeClaims inverted: which scope releases a claim.
var claimScope = func() map[string]string {
	m := map[string]string{}
	for scope, names := range scopeClaims {
		for _, n := range names {
			m[n] = scope
		}
	}
	return m
}()

// ClaimsForScopes keeps the claims the granted scopes allow (OIDC Core 5.4): a standard claim
// only when its scope was granted. A claim no scope governs (one a custom grant adds for its own
// clients) is kept: OIDC leaves those to the provider, and the grant chose to add it.
func ClaimsForScopes(claims map[string]any, scopes fosite.Arguments) map[string]any {
	out := map[string]any{}
	for n, v := range claims {
		if scope, std := claimScope[n]; std && !scopes.Has(scope) {
			continue
		}
		out[n] = v
	}
	return out
}
