package handlers

import (
	"net/http"
	"net/url"
)

// errClientIDMismatch refuses a body client_id that names another client than the Basic
// credentials: which one would the request be from? (and the log would name the wrong one).
var errClientIDMismatch = rfcError(http.StatusBadRequest, "invalid_request", "The client_id in the body does not match the client authenticated by HTTP Basic.")

// clientIDMismatch reports a form client_id that contradicts the Basic user (form-encoded per RFC
// 6749 section 2.3.1). r's form must be parsed.
func clientIDMismatch(r *http.Request) bool {
	user, _, ok := r.BasicAuth()
	body := r.PostForm.Get("client_id")
	if !ok || body == "" {
		return false
	}
	id, err := url.QueryUnescape(user)
	return err != nil || id != body
}
