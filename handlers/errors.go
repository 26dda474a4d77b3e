package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/ory/fosite"
)

// rfcError is an RFC 6749 section 5.2 error with its HTTP status, for the errors lingpai answers
// itself (before or beside fosite).
func rfcError(status int, code, description string) *fosite.RFC6749Error {
	return &fosite.RFC6749Error{ErrorField: code, DescriptionField: description, CodeField: status}
}

// The errors every endpoint shares.
var (
	errNotFound           = rfcError(http.StatusNotFound, "not_found", "")
	errMethodNotAllowed   = rfcError(http.StatusMethodNotAllowed, "invalid_request", "Method not allowed.")
	errBodyTooLarge       = rfcError(http.StatusRequestEntityTooLarge, "invalid_request", "The request body is too large.")
	errBadForm            = rfcError(http.StatusBadRequest, "invalid_request", "The request body could not be parsed as a form.")
	errClientAuthRequired = rfcError(http.StatusUnauthorized, "invalid_client", "Client authentication is required (HTTP Basic or client_id and client_secret in the body).")
	errClientAuthFailed   = rfcError(http.StatusUnauthorized, "invalid_client", "Client authentication failed.")
	errUnavailable        = rfcError(http.StatusServiceUnavailable, "temporarily_unavailable", "The service is temporarily unavailable; retry later.")
)

// Bearer-token errors (RFC 6750 section 3.1), for /connect/userinfo.
var (
	errInvalidToken      = rfcError(http.StatusUnauthorized, "invalid_token", "")
	errInsufficientScope = rfcError(http.StatusForbidden, "insufficient_scope", "")
)

// writeBearerError writes a Bearer-token error with its challenge; scope names what was missing.
func writeBearerError(w http.ResponseWriter, err *fosite.RFC6749Error, scope string) {
	v := `Bearer realm="lingpai", error="` + err.ErrorField + `"`
	if scope != "" {
		v += `, scope="` + scope + `"`
	}
	w.Header().Set("WWW-Authenticate", v)
	WriteError(w, err)
}

// retryAfter adds a Retry-After to an error answer (and retry_after to its body).
type retryAfter struct {
	error
	after time.Duration
}

func (r *retryAfter) Unwrap() error { return r.error }

func withRetryAfter(err error, d time.Duration) error { return &retryAfter{err, d} }

// WriteError writes err as an RFC 6749 section 5.2 error body: the one writer of every JSON error
// lingpai sends. An error that is not a fosite error is a server_error (never fosite's
// unregistered "error"); its text stays in the log. A 401 challenges for Basic credentials unless
// the caller set another challenge; a 503 says when to retry.
func WriteError(w http.ResponseWriter, err error) {
	var rfc *fosite.RFC6749Error
	if !errors.As(err, &rfc) || rfc.ErrorField == "error" { // fosite's unregistered name is no RFC 6749 code
		rfc = fosite.ErrServerError.WithWrap(err)
	}
	status := rfc.StatusCode()
	body := map[string]any{"error": rfc.ErrorField}
	if d := rfc.GetDescription(); d != "" {
		body["error_description"] = d
	}
	h := w.Header()
	if status == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
		h.Set("WWW-Authenticate", `Basic realm="lingpai", charset="UTF-8"`)
	}
	var ra *retryAfter
	switch {
	case errors.As(err, &ra):
		secs := int(math.Ceil(ra.after.Seconds()))
		h.Set("Retry-After", strconv.Itoa(secs))
		body["retry_after"] = secs
	case status == http.StatusServiceUnavailable:
		h.Set("Retry-After", "1")
	}
	WriteJSON(w, status, body)
}

// WriteJSON writes v as JSON that must not be cached.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeJSONBody writes v as JSON without escaping HTML characters (URLs keep their "&").
func writeJSONBody(w http.ResponseWriter, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// NotFound answers a path no route serves.
func NotFound(w http.ResponseWriter, _ *http.Request) { WriteError(w, errNotFound) }

// MethodNotAllowed answers a method a route does not serve.
func MethodNotAllowed(w http.ResponseWriter, _ *http.Request) { WriteError(w, errMethodNotAllowed) }

// unavailableErr is the 503 every endpoint answers for a storage or upstream failure.
var unavailableErr = fosite.ErrTemporarilyUnavailable.WithHint("The service is temporarily unavailable; retry later.")

// classify is the one mapping of an endpoint's failure to what it answers: a storage or upstream
// failure is 503 temporarily_unavailable (unavailable recognises the cause; when fosite dropped
// the cause, a server_error, an unrecognisable error or a client lookup that failed other than
// not-found is checked against the database with healthy); any other RFC 6749 error stays itself;
// anything else is server_error. Either function may be nil.
func classify(ctx context.Context, err error, unavailable func(error) bool, healthy func(context.Context) error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, fosite.ErrTemporarilyUnavailable) {
		return err
	}
	if unavailable != nil && unavailable(err) {
		return unavailableErr.WithWrap(err)
	}
	var rfc *fosite.RFC6749Error
	if errors.As(err, &rfc) && rfc.ErrorField == "error" && rfc.CodeField == http.StatusConflict {
		// fosite's ErrSerializationFailure: a competing request held the rows; a retry succeeds.
		return unavailableErr.WithWrap(err)
	}
	known := errors.As(err, &rfc) && rfc.ErrorField != "error" // fosite's name for "unrecognizable"
	suspect := !known || rfc.CodeField >= 500 ||
		(rfc.ErrorField == fosite.ErrInvalidClient.ErrorField && !errors.Is(err, fosite.ErrNotFound))
	if suspect && storageDown(ctx, healthy) {
		return unavailableErr.WithWrap(err)
	}
	if !known || rfc.CodeField >= 500 && rfc.ErrorField != fosite.ErrServerError.ErrorField {
		return fosite.ErrServerError.WithWrap(err)
	}
	return err
}

// isUnavailable reports whether classify made err a 503.
func isUnavailable(err error) bool { return errors.Is(err, fosite.ErrTemporarilyUnavailable) }
