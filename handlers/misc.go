package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/internal/reqctx"
	"github.com/lingpai/lingpai/internal/session"
)

func writeJSONBody(w http.ResponseWriter, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// Introspect serves POST /connect/introspect (RFC 7662). Only an authenticated client may ask:
// fosite also lets any bearer of an access token introspect other tokens, which would hand every
// client the profile claims of every user's token, so a Bearer header is refused here.
type Introspect struct {
	Provider fosite.OAuth2Provider
	// Healthy reports whether the database answers; while it does not, a failure is 503, not a
	// 401 for a client that could not be looked up or "inactive" for a token that could not be.
	Healthy func(ctx context.Context) error
}

func (h *Introspect) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	info := reqctx.From(ctx)
	if !clientCredentialsAsBasic(r) {
		info.Add(slog.String("outcome", "invalid_client"))
		WriteError(w, http.StatusUnauthorized, "invalid_client", "Client authentication is required (HTTP Basic or client_id and client_secret in the body).")
		return
	}
	ir, err := h.Provider.NewIntrospectionRequest(ctx, r, session.New())
	if err != nil {
		if storageDown(ctx, h.Healthy) {
			info.Add(slog.String("outcome", "temporarily_unavailable"))
			WriteError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The service is temporarily unavailable; retry later.")
			return
		}
		rfc := fosite.ErrorToRFC6749Error(err)
		// An inactive token wraps whatever made it so (often a 401 itself): it is active:false.
		if !errors.Is(err, fosite.ErrInactiveToken) && errors.Is(err, fosite.ErrRequestUnauthorized) {
			info.Add(slog.String("outcome", "invalid_client"))
			WriteError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed.")
			return
		}
		info.Add(slog.String("outcome", rfc.ErrorField))
		h.Provider.WriteIntrospectionError(ctx, w, err)
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

// storageDown reports whether healthy is set and the database does not answer.
func storageDown(ctx context.Context, healthy func(context.Context) error) bool {
	return healthy != nil && healthy(ctx) != nil
}

// Revoke serves POST /connect/revocation (RFC 7009). Revoking a refresh token also ends the access
// tokens of its grant.
type Revoke struct {
	Provider fosite.OAuth2Provider
	Logger   *slog.Logger
	// Healthy: as for Introspect. fosite answers a storage failure with 200, which would tell a
	// client that logs a user out that the token is dead when it is not.
	Healthy func(ctx context.Context) error
}

func (h *Revoke) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	info := reqctx.From(ctx)
	basicID, _, basic := r.BasicAuth()
	if err := r.ParseForm(); err != nil {
		WriteError(w, http.StatusBadRequest, "invalid_request", "The request body could not be parsed as a form.")
		return
	}
	clientID := r.PostForm.Get("client_id")
	if clientID == "" {
		clientID, _ = url.QueryUnescape(basicID)
	}
	if !basic && clientID == "" {
		info.Add(slog.String("outcome", "invalid_client"))
		WriteError(w, http.StatusUnauthorized, "invalid_client", "Client authentication is required (HTTP Basic or client_id and client_secret in the body).")
		return
	}
	info.Add(slog.String("client_id", clientID))
	err := h.Provider.NewRevocationRequest(ctx, r)
	if err == nil {
		info.Add(slog.String("outcome", "revoked"))
		h.Logger.InfoContext(ctx, "token revoked", "event", "token.revoked", "request_id", info.RequestID, "client_id", clientID)
		h.Provider.WriteRevocationResponse(ctx, w, nil)
		return
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.CodeField >= 500 || (rfc.ErrorField == fosite.ErrInvalidClient.ErrorField && storageDown(ctx, h.Healthy)) {
		// Nothing was revoked: say so, so that the client retries.
		info.Add(slog.String("outcome", "temporarily_unavailable"))
		h.Logger.ErrorContext(ctx, "revocation failed", "request_id", info.RequestID, "client_id", clientID, "cause", rfc.GetDescription()+" "+rfc.DebugField)
		WriteError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The token could not be revoked now; retry later.")
		return
	}
	// fosite answers most other failures with 200 (RFC 7009 says unknown tokens are not an error),
	// so the log is the only place a wrong owner shows up.
	info.Add(slog.String("outcome", rfc.ErrorField), slog.String("reason", rfc.DebugField))
	h.Provider.WriteRevocationResponse(ctx, w, err)
}

// Health serves /healthz: the process is up.
func Health(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Ready serves /readyz: every check must pass within a short timeout.
type Ready struct {
	Checks map[string]func(ctx context.Context) error
}

func (h *Ready) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	out := map[string]string{}
	status := http.StatusOK
	for name, check := range h.Checks {
		if err := check(ctx); err != nil {
			out[name] = "unavailable"
			status = http.StatusServiceUnavailable
		} else {
			out[name] = "ok"
		}
	}
	WriteJSON(w, status, out)
}
