// Package adminapi is the admin REST API served under /admin/ on server.admin_addr: HTTP only
// (authentication, JSON in and out, RFC 9457 problems, audit events); the rules live in
// internal/manage, which the CLI uses too.
package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/internal/manage"
	"github.com/lingpai/lingpai/internal/reqctx"
	"github.com/lingpai/lingpai/internal/session"
)

// API serves /admin/.
type API struct {
	Manage *manage.Service
	// Introspect verifies a bearer token lingpai issued (signature, expiry, not revoked):
	// fosite's IntrospectToken.
	Provider fosite.OAuth2Provider
	Logger   *slog.Logger
}

type callerKey struct{}

// caller is the client an admin token was issued to.
func caller(ctx context.Context) string {
	s, _ := ctx.Value(callerKey{}).(string)
	return s
}

// table is every operation: path template → method → handler (authentication included).
func (a *API) table() map[string]map[string]http.Handler {
	t := map[string]map[string]http.Handler{}
	route := func(method, path, scope string, h http.HandlerFunc) {
		if t[path] == nil {
			t[path] = map[string]http.Handler{}
		}
		t[path][method] = a.need(scope, h)
	}
	read, write := manage.ScopeAdminRead, manage.ScopeAdmin
	route(http.MethodGet, "/openapi.json", read, a.openAPI)
	route(http.MethodGet, "/clients", read, a.listClients)
	route(http.MethodPost, "/clients", write, a.createClient)
	route(http.MethodGet, "/clients/{id}", read, a.getClient)
	route(http.MethodPut, "/clients/{id}", write, a.putClient)
	route(http.MethodPatch, "/clients/{id}", write, a.patchClient)
	route(http.MethodDelete, "/clients/{id}", write, a.deleteClient)
	route(http.MethodPost, "/clients/{id}/secrets", write, a.addSecret)
	route(http.MethodDelete, "/clients/{id}/secrets/{secret_id}", write, a.deleteSecret)
	a.userRoutes(route)
	a.opsRoutes(route)
	return t
}

// Handler returns the /admin/ routes; every one authenticates the caller first (unknown paths
// and methods too, so that they reveal nothing to an anonymous caller).
func (a *API) Handler() http.Handler {
	r := mux.NewRouter().PathPrefix("/admin").Subrouter()
	read := manage.ScopeAdminRead
	notAllowed := a.need(read, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, http.StatusMethodNotAllowed, "Method not allowed on this resource.", "")
	}))
	for path, byMethod := range a.table() {
		allow := make([]string, 0, len(byMethod))
		for m := range byMethod {
			allow = append(allow, m)
		}
		slices.Sort(allow)
		// One route per path, dispatching on the method here: gorilla/mux answers a method
		// mismatch on a subrouter with 404, where 405 with Allow is right (RFC 9110 15.5.6).
		r.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if h, ok := byMethod[r.Method]; ok {
				h.ServeHTTP(w, r)
				return
			}
			w.Header().Set("Allow", strings.Join(allow, ", "))
			notAllowed.ServeHTTP(w, r)
		}))
	}
	r.NotFoundHandler = a.need(read, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, http.StatusNotFound, "No such admin resource.", "")
	}))
	return r
}

// need authenticates the bearer token and requires scope (lingpai:admin also satisfies
// lingpai:admin.read). The token must be an access token lingpai issued by client_credentials,
// and its client must still be allowed the scope: removing the scope from the client ends its
// admin access at once, even while its tokens live.
func (a *API) need(scope string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := bearer(r)
		if token == "" {
			// RFC 6750 section 3.1: no error attribute when the request had no token.
			w.Header().Set("WWW-Authenticate", `Bearer realm="lingpai-admin"`)
			writeProblem(w, r, http.StatusUnauthorized, "A bearer token is required.", "")
			return
		}
		use, ar, err := a.Provider.IntrospectToken(r.Context(), token, fosite.AccessToken, session.New())
		if err != nil || use != fosite.AccessToken || ar.GetRequestForm().Get("grant_type") != "client_credentials" {
			if err != nil && manage.IsUnavailable(err) { // the database, not the token, is the problem
				writeProblem(w, r, http.StatusServiceUnavailable, "The database is unavailable; retry later.", "")
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="lingpai-admin", error="invalid_token"`)
			writeProblem(w, r, http.StatusUnauthorized, "The bearer token is not a valid, current admin token.", "")
			return
		}
		granted, allowed := ar.GetGrantedScopes(), ar.GetClient().GetScopes()
		ok := func(s string) bool { return slices.Contains(granted, s) && slices.Contains(allowed, s) }
		// lingpai:admin implies lingpai:admin.read.
		if allowed := ok(scope) || scope == manage.ScopeAdminRead && ok(manage.ScopeAdmin); !allowed {
			w.Header().Set("WWW-Authenticate", `Bearer realm="lingpai-admin", error="insufficient_scope", scope="`+scope+`"`)
			writeProblem(w, r, http.StatusForbidden, "The token lacks the scope "+scope+".", "")
			return
		}
		id := ar.GetClient().GetID()
		reqctx.From(r.Context()).Add(slog.String("admin_client_id", id))
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, id)))
	})
}

// bearer is the token of an "Authorization: Bearer" header. Unlike fosite.AccessTokenFromRequest
// it ignores an access_token query parameter (RFC 6750 section 2.3): URLs end up in proxy and
// access logs, and an admin token there is an admin credential there.
func bearer(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// problem is an RFC 9457 problem detail; field names the request member that was wrong.
type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// writeProblem is the one writer of admin API errors.
func writeProblem(w http.ResponseWriter, r *http.Request, status int, detail, field string) {
	p := problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, Field: field,
		RequestID: reqctx.From(r.Context()).RequestID}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

// fail maps a service error to its problem; anything unexpected is a 500 whose cause stays in
// the log.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var inv *manage.Invalid
	switch {
	case errors.As(err, &inv):
		writeProblem(w, r, http.StatusBadRequest, inv.Detail, inv.Field)
	case errors.Is(err, manage.ErrNotFound):
		writeProblem(w, r, http.StatusNotFound, "No such resource.", "")
	case errors.Is(err, manage.ErrConflict):
		writeProblem(w, r, http.StatusConflict, strings.TrimPrefix(err.Error(), manage.ErrConflict.Error()+": "), "")
	case errors.Is(err, manage.ErrExists):
		writeProblem(w, r, http.StatusConflict, "A resource with that identifier already exists.", "")
	case errors.Is(err, manage.ErrStale):
		writeProblem(w, r, http.StatusPreconditionFailed, "The resource changed since it was read: GET it again and retry with its ETag.", "")
	case manage.IsUnavailable(err):
		writeProblem(w, r, http.StatusServiceUnavailable, "The database is unavailable; retry later.", "")
	default:
		a.Logger.ErrorContext(r.Context(), "admin api failure", "request_id", reqctx.From(r.Context()).RequestID, "error", err)
		writeProblem(w, r, http.StatusInternalServerError, "Internal error; see the server log for the request id.", "")
	}
}

// writeJSON writes a success body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a JSON object body strictly into v (see decodeBytes).
func decode(r *http.Request, v any) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	return decodeBytes(r.Header.Get("Content-Type"), b, v)
}

// readBody reads the whole body (within the middleware's size limit).
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, &manage.Invalid{Field: "body", Detail: "the body is too large"}
	}
	if err != nil {
		return nil, &manage.Invalid{Field: "body", Detail: "the body could not be read"}
	}
	return b, nil
}

// decodeBytes reads one JSON object strictly into v: unknown members, wrong types and trailing
// data are 400 problems naming the member. v may be pre-filled (PATCH): members absent from the
// body keep their value.
func decodeBytes(contentType string, b []byte, v any) error {
	ct, _, _ := mime.ParseMediaType(contentType)
	if ct != "application/json" && ct != "application/merge-patch+json" {
		return &manage.Invalid{Field: "Content-Type", Detail: "the body must be application/json"}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		if _, err := dec.Token(); err != io.EOF {
			return &manage.Invalid{Field: "body", Detail: "one JSON object and nothing after it"}
		}
		return nil
	case errors.As(err, &te):
		return &manage.Invalid{Field: jsonPath(te.Field), Detail: fmt.Sprintf("must be a JSON %s", jsonKind(te.Type.Kind().String()))}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return &manage.Invalid{Field: name, Detail: "unknown field"}
	default:
		return &manage.Invalid{Field: "body", Detail: "the body is not a JSON object"}
	}
}

// jsonPath drops the Go names of embedded structs from a decoder's field path.
func jsonPath(p string) string {
	var out []string
	for _, seg := range strings.Split(p, ".") {
		if seg != "" && (seg[0] < 'A' || seg[0] > 'Z') {
			out = append(out, seg)
		}
	}
	return strings.Join(out, ".")
}

// jsonKind names a Go kind as JSON does.
func jsonKind(k string) string {
	switch k {
	case "slice", "array":
		return "array"
	case "bool":
		return "boolean"
	case "string":
		return "string"
	case "struct", "map", "ptr":
		return "object"
	}
	return "number"
}

// audit records a change: the event, the calling client and the request, never a secret.
func (a *API) audit(r *http.Request, event string, attrs ...any) {
	args := append([]any{"event", event, "request_id", reqctx.From(r.Context()).RequestID, "admin_client_id", caller(r.Context())}, attrs...)
	a.Logger.InfoContext(r.Context(), "admin change", args...)
}

// limit reads ?limit= (default 50, 1..200).
func limit(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return 50, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 200 {
		return 0, &manage.Invalid{Field: "limit", Detail: "an integer from 1 to 200"}
	}
	return n, nil
}
