package handlers

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ory/fosite"
)

// repeatedParam returns the first (by name) parameter that appears more than once in v, or "".
// RFC 6749 section 3.1 and 3.2: request parameters MUST NOT be included more than once.
func repeatedParam(v url.Values) string {
	var names []string
	for k, vals := range v {
		if len(vals) > 1 {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return ""
	}
	slices.Sort(names)
	return names[0]
}

// checkClientRequest holds the rules every client-authenticated POST endpoint (token,
// introspection, revocation, sms code) applies before fosite reads the request; r's form is
// parsed. A parameter sent twice is invalid_request (RFC 6749 3.2); a Basic header that cannot be
// decoded (base64, then the form-encoding of RFC 6749 2.3.1) is failed client authentication,
// 401 invalid_client; Basic credentials and client_secret in the body are two authentication
// methods in one request, which RFC 6749 2.3 forbids (invalid_request).
func checkClientRequest(r *http.Request) error {
	if p := repeatedParam(r.PostForm); p != "" {
		return fosite.ErrInvalidRequest.WithHintf("The parameter '%s' is included more than once.", p)
	}
	auth := r.Header.Get("Authorization")
	if len(auth) < 6 || !strings.EqualFold(auth[:6], "basic ") {
		return nil
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		return errClientAuthFailed
	}
	if _, err := url.QueryUnescape(id); err != nil {
		return errClientAuthFailed
	}
	if _, err := url.QueryUnescape(secret); err != nil {
		return errClientAuthFailed
	}
	if r.PostForm.Has("client_secret") {
		return fosite.ErrInvalidRequest.WithHint("The client authenticated with HTTP Basic and client_secret in the body; use one method only.")
	}
	return nil
}
