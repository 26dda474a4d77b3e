package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/ory/fosite"
)

// The one mapping: storage or upstream failures are 503 temporarily_unavailable with
// Retry-After, other unexpected errors 500 server_error, never fosite's unregistered "error".
func TestClassify(t *testing.T) {
	errDriver := errors.New("dial tcp 127.0.0.1:3306: connect: connection refused")
	unavailable := func(err error) bool { return errors.Is(err, errDriver) }
	down := func(context.Context) error { return errors.New("ping: refused") }
	up := func(context.Context) error { return nil }
	for _, c := range []struct {
		name    string
		err     error
		healthy func(context.Context) error
		status  int
		code    string
	}{
		{"raw storage error", errDriver, up, 503, "temporarily_unavailable"},
		{"storage error inside fosite's server_error", fosite.ErrServerError.WithWrap(errDriver), up, 503, "temporarily_unavailable"},
		{"storage error inside invalid_client", fosite.ErrInvalidClient.WithWrap(errDriver), up, 503, "temporarily_unavailable"},
		{"invalid_client, cause dropped, database down", fosite.ErrInvalidClient, down, 503, "temporarily_unavailable"},
		{"invalid_client, database up", fosite.ErrInvalidClient, up, 401, "invalid_client"},
		{"unknown client, database down", fosite.ErrInvalidClient.WithWrap(fosite.ErrNotFound), down, 401, "invalid_client"},
		{"raw unknown error, database up", errors.New("boom"), up, 500, "server_error"},
		{"fosite's unrecognisable error", fosite.ErrorToRFC6749Error(errors.New("boom")), up, 500, "server_error"},
		{"bad request stays itself", fosite.ErrInvalidRequest, down, 400, "invalid_request"},
		{"a competing request (fosite's serialization failure)", fosite.ErrSerializationFailure, up, 503, "temporarily_unavailable"},
		{"fosite's unrecognisable error written as it is", nil, up, 500, "server_error"},
		{"bad grant stays itself", fosite.ErrInvalidGrant, down, 400, "invalid_grant"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if c.err == nil { // WriteError alone, without classify
				WriteError(rec, fosite.ErrorToRFC6749Error(errors.New("boom")))
			} else {
				WriteError(rec, classify(context.Background(), c.err, unavailable, c.healthy))
			}
			var body map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			if rec.Code != c.status || body["error"] != c.code {
				t.Fatalf("%d %v, want %d %s", rec.Code, body, c.status, c.code)
			}
			if (rec.Code == 503) != (rec.Header().Get("Retry-After") != "") {
				t.Fatalf("Retry-After %q on a %d", rec.Header().Get("Retry-After"), rec.Code)
			}
		})
	}
}
