package handlers

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/lingpai/lingpai/grants"
)

// Discovery serves /.well-known/openid-configuration. Document is built once at start-up from
// configuration (the enabled grants, the signing algorithm, the endpoints that are mounted);
// ClaimSets, when set, adds the stored claim sets' scopes and claims (imported identity
// resources) to scopes_supported and claims_supported.
type Discovery struct {
	Document  map[string]any
	ClaimSets func(ctx context.Context) (grants.ClaimSets, error)
}

func (d *Discovery) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	doc := d.Document
	if d.ClaimSets != nil {
		// A database hiccup serves the configured document rather than no document.
		if sets, err := d.ClaimSets(r.Context()); err == nil {
			doc = maps.Clone(d.Document)
			doc["scopes_supported"] = union(doc["scopes_supported"], sets.Scopes())
			var claims []string
			for _, names := range sets {
				claims = append(claims, names...)
			}
			doc["claims_supported"] = union(doc["claims_supported"], claims)
		}
	}
	writeJSONBody(w, doc)
}

// union appends to a configured list the names it lacks, in sorted order.
func union(configured any, more []string) []string {
	list, _ := configured.([]string)
	out := slices.Clone(list)
	slices.Sort(more)
	for _, n := range more {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// JWKS serves the public signing keys: the active one and every retired one still verifying.
type JWKS struct {
	Keys   func(ctx context.Context) (jose.JSONWebKeySet, error)
	MaxAge time.Duration
}

func (j *JWKS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	set, err := j.Keys(r.Context())
	if err != nil {
		WriteError(w, errUnavailable)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(j.MaxAge.Seconds())))
	w.Header().Set("Content-Type", "application/jwk-set+json")
	writeJSONBody(w, set)
}
