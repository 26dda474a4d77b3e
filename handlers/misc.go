package handlers

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/reqctx"
	"github.com/lingpai/lingpai/session"
)

func writeJSONBody(w http.ResponseWriter, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// Introspect serves POST /connect/introspect (RFC 7662) for authenticated clients.
type Introspect struct {
	Provider fosite.OAuth2Provider
}

func (h *Introspect) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ir, err := h.Provider.NewIntrospectionRequest(ctx, r, session.New())
	if err != nil {
		reqctx.From(ctx).Add(slog.String("outcome", fosite.ErrorToRFC6749Error(err).ErrorField))
		h.Provider.WriteIntrospectionError(ctx, w, err)
		return
	}
	reqctx.From(ctx).Add(slog.Bool("active", ir.IsActive()))
	h.Provider.WriteIntrospectionResponse(ctx, w, ir)
}

// Revoke serves POST /connect/revocation (RFC 7009). Revoking a refresh token also ends the access
// tokens of its grant.
type Revoke struct {
	Provider fosite.OAuth2Provider
	Logger   *slog.Logger
}

func (h *Revoke) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	err := h.Provider.NewRevocationRequest(ctx, r)
	if err != nil {
		// fosite answers most failures with 200 (RFC 7009 says unknown tokens are not an error), so
		// the log is the only place a wrong owner or a storage failure shows up.
		rfc := fosite.ErrorToRFC6749Error(err)
		reqctx.From(ctx).Add(slog.String("outcome", rfc.ErrorField), slog.String("reason", rfc.DebugField))
	} else {
		reqctx.From(ctx).Add(slog.String("outcome", "revoked"))
		h.Logger.InfoContext(ctx, "token revoked", "event", "token.revoked", "request_id", reqctx.From(ctx).RequestID)
	}
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
