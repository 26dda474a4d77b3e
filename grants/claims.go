package grants

import "github.com/ory/fosite"

// ClaimsForScopes keeps the claims the granted scopes allow (OIDC Core 5.4).
func ClaimsForScopes(claims map[string]any, scopes fosite.Arguments) map[string]any {
	allowed := map[string][]string{
		"profile": {"preferred_username", "name", "groups"},
		"email":   {"email", "email_verified"},
		"phone":   {"phone_number", "phone_number_verified"},
	}
	out := map[string]any{}
	for scope, names := range allowed {
		if !scopes.Has(scope) {
			continue
		}
		for _, n := range names {
			if v, ok := claims[n]; ok {
				out[n] = v
			}
		}
	}
	return out
}
