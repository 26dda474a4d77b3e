package handlers

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/go-jose/go-jose/v3"
)

// Discovery serves /.well-known/openid-configuration. Document is built once at start-up from
// configuration (the enabled grants, the signing algorithm, the endpoints that are mounted).
type Discovery struct {
	Document map[string]any
}

func (d *Discovery) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	writeJSONBody(w, d.Document)
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
