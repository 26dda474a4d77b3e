package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/internal/reqctx"
	"github.com/lingpai/lingpai/internal/session"
)

// Introspect serves POST /connect/introspect (RFC 7662). Only an authenticated client may ask:
// fosite also lets any bearer of an access token introspect other tokens, which would hand every
// client the profile claims of every user's token, so a Bearer header is refused here.
type Introspect struct {
	Provider fosite.OAuth2Provider
	// Healthy reports whether the database answers; while it does not, a failure is 503, not a
	// 401 for a client that could not be looked up or "inactive" for a token that could not be.
	Healthy func(ctx context.Context) error
	// Unavailable: as for Token.
	Unavailable func(error) bool
}

func (h *Introspect) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	info := reqctx.From(ctx)
	if !clientCredentialsAsBasic(r) {
		info.Add(slog.String("outcome", "invalid_client"))
		WriteError(w, errClientAuthRequired)
		return
	}
	ir, err := h.Provider.NewIntrospectionRequest(ctx, r, session.New())
	if err != nil {
		if (h.Unavailable != nil && h.Unavailable(err)) || storageDown(ctx, h.Healthy) {
			info.Add(slog.String("outcome", "temporarily_unavailable"))
			WriteError(w, errUnavailable)
			return
		}
		// An inactive token wraps whatever made it so (often a 401 itself): it is active:false.
		if !errors.Is(err, fosite.ErrInactiveToken) && errors.Is(err, fosite.ErrRequestUnauthorized) {
			info.Add(slog.String("outcome", "invalid_client"))
			WriteError(w, errClientAuthFailed)
			return
		}
		rfc := fosite.ErrorToRFC6749Error(err)
		info.Add(slog.String("outcome", rfc.ErrorField))
		if !errors.Is(err, fosite.ErrInactiveToken) && errors.Is(err, fosite.ErrInvalidRequest) {
			WriteError(w, err)
			return
		}
		h.Provider.WriteIntrospectionError(ctx, w, err) // {"active":false}
		return
	}
	info.Add(slog.Bool("active", ir.IsActive()))
	h.Provider.WriteIntrospectionResponse(ctx, w, ir)
}

// clientCredentialsAsBasic reports whether r carries client credentials, moving client_id and
// client_secret from the body into an HTTP Basic header where needed: fosite's introspection
// reads Basic only, while the token endpoint (and IdentityServer's clients) also send them in the
// body. A Bearer header is not client authentication.
func clientCredentialsAsBasic(r *http.Request) bool {
	if _, _, ok := r.BasicAuth(); ok {
		return true
	}
	if r.Header.Get("Authorization") != "" || r.ParseForm() != nil {
		return false
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if id == "" || secret == "" {
		return false
	}
	r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret)) // fosite unescapes (RFC 6749 section 2.3.1)
	r.PostForm.Del("client_secret")
	return true
}
