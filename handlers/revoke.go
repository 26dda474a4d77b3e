package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/internal/reqctx"
)

// Revoke serves POST /connect/revocation (RFC 7009). Revoking a refresh token also ends the access
// tokens of its grant.
type Revoke struct {
	Provider fosite.OAuth2Provider
	Logger   *slog.Logger
	// Healthy: as for Introspect. fosite answers a storage failure with 200, which would tell a
	// client that logs a user out that the token is dead when it is not.
	Healthy func(ctx context.Context) error
	// Unavailable: as for Token.
	Unavailable func(error) bool
}

func (h *Revoke) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	info := reqctx.From(ctx)
	basicID, _, basic := r.BasicAuth()
	if err := r.ParseForm(); err != nil {
		WriteError(w, errBadForm)
		return
	}
	if err := checkClientRequest(r); err != nil {
		WriteError(w, err)
		return
	}
	if err := checkLengths(r.PostForm); err != nil {
		WriteError(w, err)
		return
	}
	if clientIDMismatch(r) {
		info.Add(slog.String("outcome", "invalid_request"))
		WriteError(w, errClientIDMismatch)
		return
	}
	clientID := r.PostForm.Get("client_id")
	if clientID == "" {
		clientID, _ = url.QueryUnescape(basicID)
	}
	if !basic && clientID == "" {
		info.Add(slog.String("outcome", "invalid_client"))
		WriteError(w, errClientAuthRequired)
		return
	}
	err := h.Provider.NewRevocationRequest(ctx, r)
	if !errors.Is(err, fosite.ErrInvalidClient) {
		// fosite authenticated the client (its errors after that are about the token).
		info.Add(slog.String("client_id", clientID))
	}
	if err == nil {
		info.Add(slog.String("outcome", "revoked"))
		h.Logger.InfoContext(ctx, "token revoked", "event", "token.revoked", "request_id", info.RequestID, "client_id", clientID)
		h.Provider.WriteRevocationResponse(ctx, w, nil)
		return
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	switch {
	case rfc.CodeField >= 500 || isUnavailable(classify(ctx, err, h.Unavailable, h.Healthy)):
		// Nothing was revoked: say so, so that the client retries.
		info.Add(slog.String("outcome", "temporarily_unavailable"))
		h.Logger.ErrorContext(ctx, "revocation failed", "request_id", info.RequestID, "claimed_client_id", clientID, "cause", rfc.GetDescription()+" "+rfc.DebugField)
		WriteError(w, rfcError(http.StatusServiceUnavailable, "temporarily_unavailable", "The token could not be revoked now; retry later."))
	case errors.Is(err, fosite.ErrInvalidRequest), errors.Is(err, fosite.ErrInvalidClient):
		info.Add(slog.String("outcome", rfc.ErrorField), slog.String("reason", rfc.DebugField))
		WriteError(w, err)
	default:
		// RFC 7009 section 2.2: an unknown or foreign token is not an error, so the log is the
		// only place a wrong owner shows up.
		info.Add(slog.String("outcome", rfc.ErrorField), slog.String("reason", rfc.DebugField))
		h.Provider.WriteRevocationResponse(ctx, w, nil)
	}
}
