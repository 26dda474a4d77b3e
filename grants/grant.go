// Package grants is lingpai's extension point for token-endpoint grants. A grant says only who
// the request is for (Grant.Authenticate); Handler, a fosite TokenEndpointHandler, does the rest:
// client checks, scopes, audience, throttling, and issuing access, refresh and id tokens through
// fosite's own strategies and storage, so refresh, introspection and revocation treat these tokens
// exactly like fosite's built-in grants. Adding a grant is one package and one registration line.
package grants

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/ory/fosite"
)

// Grant is what a custom grant type implements.
type Grant interface {
	// Type is the grant_type value this grant answers, e.g. "password_ad".
	Type() string
	// Authenticate works out whose request this is. It returns one of the errors below (wrapped
	// with context for the log); any other error is a server error.
	Authenticate(ctx context.Context, req Request) (Identity, error)
}

// Request is what a grant sees of a token request.
type Request struct {
	Form     url.Values
	Client   fosite.Client
	ClientIP string
}

// Identity is the account a grant resolved.
type Identity struct {
	Subject string         // lingpai's user id: the token's sub
	Claims  map[string]any // preferred_username, name, email, groups...: id_token and JWT claims
	AMR     []string       // authentication methods (RFC 8176): pwd, sms, wechat...
	// Ref is the grant's own handle on the account (a directory entry id), kept in the session so
	// Rechecker can look the account up again at refresh.
	Ref string
}

// Errors a grant returns; the handler maps them to RFC 6749 errors.
var (
	// ErrInvalidCredentials: wrong password or code, unknown user, disabled account... → invalid_grant.
	// Every such case gives the same response so none reveals which accounts exist.
	ErrInvalidCredentials = errors.New("grants: invalid credentials")
	// ErrInvalidRequest: a required parameter is missing or malformed → invalid_request.
	ErrInvalidRequest = errors.New("grants: invalid request")
	// ErrUnauthorizedClient: this client may not use the grant this way → unauthorized_client.
	ErrUnauthorizedClient = errors.New("grants: client not allowed")
	// ErrUnavailable: an upstream (directory, SMS gateway, WeChat) is down → 503 temporarily_unavailable.
	ErrUnavailable = errors.New("grants: upstream unavailable")
	// ErrAccountDisabled: the account exists but may not sign in (disabled, locked, expired). It is
	// an ErrInvalidCredentials, so the client sees the same invalid_grant as for a wrong password
	// and the failure is counted alike; only the log tells the two apart.
	ErrAccountDisabled = fmt.Errorf("%w: account disabled", ErrInvalidCredentials)
	// ErrRateLimited: the grant's own limit on attempts was reached (not the brute-force regulator,
	// which the handler applies itself) → 429 slow_down; nothing is issued and nothing is counted.
	ErrRateLimited = errors.New("grants: rate limited")
)

// errSlowDown is the RFC 6749 shaped answer to ErrRateLimited, as /connect/sms/code answers its
// limits (the error code is RFC 8628's).
var errSlowDown = &fosite.RFC6749Error{
	ErrorField:       "slow_down",
	DescriptionField: "Too many attempts; retry later.",
	CodeField:        http.StatusTooManyRequests,
}

// Throttled is implemented by grants whose failures count against an account in the brute-force
// regulator. AccountKey returns the namespaced account ("ad:alice"), or "" when not yet known.
type Throttled interface {
	AccountKey(req Request) string
}

// Rechecker is implemented by grants whose accounts can go away (a disabled directory user): at
// every refresh the handler asks whether the account may still get tokens. ErrInvalidCredentials
// means no: the token family is revoked.
type Rechecker interface {
	Recheck(ctx context.Context, subject, ref string) error
}

// SecretParams is implemented by grants that take secrets beyond the common ones (password, code,
// sms, code_verifier): they are removed from the request before anything is stored.
type SecretParams interface {
	SecretParams() []string
}

// errorFor maps a grant's error to the RFC 6749 error fosite writes.
func errorFor(err error) error {
	var rfc *fosite.RFC6749Error
	switch {
	case errors.As(err, &rfc):
		return err
	case errors.Is(err, ErrInvalidRequest):
		return fosite.ErrInvalidRequest.WithHint(hintOf(err)).WithWrap(err)
	case errors.Is(err, ErrInvalidCredentials):
		return fosite.ErrInvalidGrant.WithHint("The provided credentials are invalid, expired or revoked.").WithWrap(err).WithDebug(err.Error())
	case errors.Is(err, ErrUnauthorizedClient):
		return fosite.ErrUnauthorizedClient.WithHint(hintOf(err)).WithWrap(err)
	case errors.Is(err, ErrRateLimited):
		return errSlowDown.WithWrap(err).WithDebug(err.Error())
	case errors.Is(err, ErrUnavailable):
		return fosite.ErrTemporarilyUnavailable.WithHint("An upstream identity service is unavailable; retry later.").WithWrap(err).WithDebug(err.Error())
	}
	return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
}

// Hint is an error whose message is safe to show a client (a missing parameter's name).
type Hint struct {
	Msg string
	Err error
}

func (h *Hint) Error() string { return h.Msg + ": " + h.Err.Error() }
func (h *Hint) Unwrap() error { return h.Err }

// Hinted wraps err with a message the client may see.
func Hinted(err error, msg string) error { return &Hint{Msg: msg, Err: err} }

func hintOf(err error) string {
	var h *Hint
	if errors.As(err, &h) {
		return h.Msg
	}
	return ""
}
