package grants

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ory/fosite"
	"golang.org/x/sync/singleflight"
)

// ClaimSets maps a scope to the user claims granting it releases: OIDC Core 5.4's standard
// scopes, plus stored sets (IdentityServer4's identity resources, such as an "employee" scope
// releasing employee_id and department). It is the one table every grant, the browser flow and
// userinfo filter claims through. The empty scope, which is never granted, holds the claims of
// disabled sets: they are withheld rather than released as claims no scope governs.
type ClaimSets map[string][]string

// standardClaimSets are OIDC Core 5.4's scopes (plus lingpai's groups, released with profile).
var standardClaimSets = ClaimSets{
	"profile": {"name", "family_name", "given_name", "middle_name", "nickname", "preferred_username", "profile",
		"picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at", "groups"},
	"email":   {"email", "email_verified"},
	"phone":   {"phone_number", "phone_number_verified"},
	"address": {"address"},
}

// StandardClaimSets returns a copy of the standard scopes' claims.
func StandardClaimSets() ClaimSets { return standardClaimSets.With(nil) }

// With returns the sets with extra added: a scope already present gets extra's claims too (a
// stored "profile" set adds to the standard one, never takes from it).
func (cs ClaimSets) With(extra map[string][]string) ClaimSets {
	out := make(ClaimSets, len(cs)+len(extra))
	for s, names := range cs {
		out[s] = slices.Clone(names)
	}
	for s, names := range extra {
		for _, n := range names {
			if !slices.Contains(out[s], n) {
				out[s] = append(out[s], n)
			}
		}
	}
	return out
}

// Scopes lists the scopes that release claims, sorted.
func (cs ClaimSets) Scopes() []string {
	return slices.DeleteFunc(slices.Sorted(maps.Keys(cs)), func(s string) bool { return s == "" })
}

// Release keeps the claims the granted scopes allow (OIDC Core 5.4): a claim some scope releases
// only when one such scope was granted. A claim no scope governs (one a custom grant adds for its
// own clients) is kept: OIDC leaves those to the provider, and the grant chose to add it.
func (cs ClaimSets) Release(claims map[string]any, scopes fosite.Arguments) map[string]any {
	governed := map[string]bool{} // claim -> released by a granted scope
	for scope, names := range cs {
		granted := scope != "" && scopes.Has(scope)
		for _, n := range names {
			governed[n] = governed[n] || granted
		}
	}
	out := map[string]any{}
	for n, v := range claims {
		if released, ok := governed[n]; ok && !released {
			continue
		}
		out[n] = v
	}
	return out
}

// ClaimsForScopes filters claims through the standard scopes only.
func ClaimsForScopes(claims map[string]any, scopes fosite.Arguments) map[string]any {
	return standardClaimSets.Release(claims, scopes)
}

// ScopeClaims supplies the claim sets in force: the standard ones and the stored ones, read
// through Load at most every TTL (an import on a running server shows within server.cache_ttl).
// A nil *ScopeClaims gives the standard sets.
type ScopeClaims struct {
	Load func(ctx context.Context) (map[string][]string, error)
	TTL  time.Duration

	mu     sync.Mutex
	cached ClaimSets
	at     time.Time
	load   singleflight.Group // requests arriving as the cache expires share one read
}

// Sets returns the claim sets in force.
func (s *ScopeClaims) Sets(ctx context.Context) (ClaimSets, error) {
	if s == nil || s.Load == nil {
		return standardClaimSets, nil
	}
	s.mu.Lock()
	cached, fresh := s.cached, s.cached != nil && time.Since(s.at) < s.TTL
	s.mu.Unlock()
	if fresh {
		return cached, nil
	}
	v, err, _ := s.load.Do("", func() (any, error) {
		// One caller's cancellation must not fail the others sharing the read; the store's
		// query timeout still bounds it.
		stored, err := s.Load(context.WithoutCancel(ctx))
		if err != nil {
			return nil, err
		}
		sets := standardClaimSets.With(stored)
		s.mu.Lock()
		s.cached, s.at = sets, time.Now()
		s.mu.Unlock()
		return sets, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(ClaimSets), nil
}
