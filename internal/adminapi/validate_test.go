package adminapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/lingpai/lingpai/docs"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
)

var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error
)

func router(t *testing.T) routers.Router {
	t.Helper()
	specOnce.Do(func() {
		doc, err := openapi3.NewLoader().LoadFromData(docs.AdminOpenAPI)
		if err != nil {
			specErr = err
			return
		}
		if err = doc.Validate(context.Background()); err != nil {
			specErr = err
			return
		}
		specRouter, specErr = gorillamux.NewRouter(doc)
	})
	if specErr != nil {
		t.Fatalf("docs/admin-openapi.yaml: %v", specErr)
	}
	return specRouter
}

// validate checks one admin exchange against docs/admin-openapi.yaml: every answer must be one
// the document describes for its operation and status, and every request the server accepted
// (2xx) must be one the document allows, so neither can drift. Requests the server refused are
// the suite's deliberate bad input: their 4xx answers are still checked.
func validate(t *testing.T, req *http.Request, body *bytes.Reader, resp *lingpaitest.Response) {
	t.Helper()
	// The document's paths are relative to the admin listener's root.
	vreq := req.Clone(context.Background())
	vreq.URL.Scheme, vreq.URL.Host, vreq.Host = "", "", ""
	route, params, err := router(t).FindRoute(vreq)
	if err != nil {
		if resp.Status == http.StatusUnauthorized || resp.Status == http.StatusNotFound || resp.Status == http.StatusMethodNotAllowed {
			return // a path or method the API does not have: refused before any operation
		}
		t.Fatalf("%s %s answered %d but is not in the OpenAPI document: %v", req.Method, req.URL.Path, resp.Status, err)
	}
	_, _ = body.Seek(0, io.SeekStart)
	vreq.Body = io.NopCloser(body)
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
	if resp.Status < 300 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Fatalf("%s %s: the request the server accepted does not match the OpenAPI document: %v", req.Method, req.URL.Path, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.Status, Header: resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	out.SetBodyBytes([]byte(resp.Raw))
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Fatalf("%s %s -> %d: the answer does not match the OpenAPI document: %v\n%s", req.Method, req.URL.Path, resp.Status, err,
			strings.TrimSpace(resp.Raw))
	}
}
