package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/internal/reqctx"
	"github.com/lingpai/lingpai/internal/session"
)

// Token serves POST /connect/token for every enabled grant.
type Token struct {
	Provider fosite.OAuth2Provider
	Enabled  map[string]bool // grants.enabled
	Logger   *slog.Logger
	// Healthy reports whether the database answers; a server error while it does not becomes a
	// 503 temporarily_unavailable, which clients may retry.
	Healthy func(ctx context.Context) error
	// Unavailable recognises a storage or upstream failure in an error's chain (storage.IsUnavailable):
	// answered 503 temporarily_unavailable without asking the database again.
	Unavailable func(error) bool
	// Reused reports a refresh that lost to another use of the same token (storage's
	// compare-and-set): reuse, answered invalid_grant.
	Reused func(err error) bool
	// Spent reports a code redemption that lost to a concurrent one (storage's compare-and-set):
	// invalid_grant, as for any used code.
	Spent func(err error) bool
	// Metrics counts outcomes; nil counts nothing.
	Metrics TokenObserver
}

// TokenObserver counts token endpoint outcomes (metrics.Metrics implements it). Labels must be
// bounded: the grant type only when enabled, the client id only once the client authenticated.
type TokenObserver interface {
	TokenIssued(grantType, clientID string)
	TokenFailed(grantType, code string)
}

func (h *Token) countFailure(grant, code string) {
	if h.Metrics == nil {
		return
	}
	if !h.Enabled[grant] {
		grant = "other"
	}
	h.Metrics.TokenFailed(grant, code)
}

func (h *Token) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	info := reqctx.From(ctx)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		WriteError(w, rfcError(http.StatusMethodNotAllowed, "invalid_request", "The token endpoint accepts POST only."))
		return
	}
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			WriteError(w, errBodyTooLarge)
			return
		}
		WriteError(w, errBadForm)
		return
	}
	if err := checkLengths(r.PostForm); err != nil {
		info.Add(slog.String("outcome", "invalid_request"))
		WriteError(w, err)
		return
	}
	grant := r.PostForm.Get("grant_type")
	info.Add(slog.String("grant_type", grant))
	if err := checkClientRequest(r); err != nil {
		rfc := fosite.ErrorToRFC6749Error(err)
		info.Add(slog.String("outcome", rfc.ErrorField))
		h.countFailure(grant, rfc.ErrorField)
		WriteError(w, err)
		return
	}
	if grant != "" && !h.Enabled[grant] {
		info.Add(slog.String("outcome", "unsupported_grant_type"))
		h.countFailure(grant, "unsupported_grant_type")
		WriteError(w, rfcError(http.StatusBadRequest, "unsupported_grant_type", "The grant type is not supported by this server."))
		return
	}
	if clientIDMismatch(r) {
		info.Add(slog.String("outcome", "invalid_request"))
		h.countFailure(grant, "invalid_request")
		WriteError(w, errClientIDMismatch)
		return
	}
	// client_id goes into the log once fosite has authenticated the client (grants.Policy adds
	// it): a name the request merely claims is not who sent it.
	_, _, basic := r.BasicAuth()
	if !basic && r.PostForm.Get("client_id") == "" && r.PostForm.Get("client_assertion") == "" {
		info.Add(slog.String("outcome", "invalid_client"))
		h.countFailure(grant, "invalid_client")
		WriteError(w, errClientAuthRequired)
		return
	}

	ar, err := h.Provider.NewAccessRequest(ctx, r, session.New())
	if err != nil {
		h.fail(ctx, w, ar, err)
		return
	}
	resp, err := h.Provider.NewAccessResponse(ctx, ar)
	if err != nil {
		h.fail(ctx, w, ar, err)
		return
	}
	resp.SetTokenType("Bearer") // fosite writes "bearer"; the contract (and IdentityServer) say Bearer
	if exp := ar.GetSession().GetExpiresAt(fosite.AccessToken); !exp.IsZero() {
		// fosite truncates (3599 for a one-hour token); round, as the seed's example shows 3600.
		resp.SetExpiresIn(time.Until(exp).Round(time.Second))
	}
	info.Add(slog.String("outcome", "issued"))
	sub := ar.GetSession().GetSubject()
	if sub != "" {
		info.Add(slog.String("subject", sub))
	}
	if h.Metrics != nil {
		h.Metrics.TokenIssued(grant, ar.GetClient().GetID())
	}
	// The audit trail of issuance: who got a token for whom, never the token itself.
	h.Logger.InfoContext(ctx, "token issued", "event", "token.issued", "request_id", info.RequestID,
		"client_id", ar.GetClient().GetID(), "subject", sub, "grant_type", grant)
	h.Provider.WriteAccessResponse(ctx, w, ar, resp)
}

func (h *Token) fail(ctx context.Context, w http.ResponseWriter, ar fosite.AccessRequester, err error) {
	info := reqctx.From(ctx)
	// Reuse shows up two ways: a refresh racing another use of the same token (our storage's
	// compare-and-set), or a used or revoked token presented later (fosite's inactive-token path,
	// which revokes the family too). Both are the event operators alert on.
	raced := h.Reused != nil && h.Reused(err)
	if raced || (reqGrant(ar) == "refresh_token" && errors.Is(err, fosite.ErrInactiveToken)) {
		if raced {
			err = fosite.ErrInvalidGrant.WithHint("The refresh token was already used; every token issued from it has been revoked.").WithWrap(err)
		}
		clientID := ""
		if ar != nil && ar.GetClient() != nil {
			clientID = ar.GetClient().GetID()
		}
		h.Logger.WarnContext(ctx, "refresh token reuse detected; token family revoked", "event", "token.reuse_detected",
			"request_id", info.RequestID, "client_id", clientID)
	}
	spent := h.Spent != nil && h.Spent(err)
	if spent {
		// Another request redeemed the same code first (two nodes of a cluster may both have
		// read it as unused): the loser's answer is the one for a used code.
		err = fosite.ErrInvalidGrant.WithHint("The authorization code has already been used.").WithWrap(err)
	}
	// fosite wraps every error of client authentication in invalid_client and every unexpected
	// error of a grant in server_error; an overload signalled underneath (the hashing limit) is
	// neither, and must reach the client as 503 temporarily_unavailable with Retry-After.
	if errors.Is(err, fosite.ErrTemporarilyUnavailable) {
		err = fosite.ErrTemporarilyUnavailable.WithHint("The service is temporarily unavailable; retry later.").WithWrap(err)
	}
	// fosite reports a client lookup that failed for any reason as invalid_client, and passes some
	// storage errors up raw, so a database outage would look like bad credentials or an
	// unrecognisable error; classify tells them apart. A lost race on a refresh token is reuse,
	// and on a code a used code (invalid_grant), whatever the driver said.
	if !raced && !spent {
		err = classify(ctx, err, h.Unavailable, h.Healthy)
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	info.Add(slog.String("outcome", rfc.ErrorField))
	h.countFailure(reqGrant(ar), rfc.ErrorField)
	if rfc.CodeField >= 500 {
		h.Logger.ErrorContext(ctx, "token request failed", "request_id", info.RequestID, "error", rfc.ErrorField, "cause", rfc.GetDescription()+" "+rfc.DebugField)
	} else if rfc.DebugField != "" {
		info.Add(slog.String("reason", rfc.DebugField))
	}
	WriteError(w, err)
}

// reqGrant is the grant type of a (possibly nil) access request, for metrics labels.
func reqGrant(ar fosite.AccessRequester) string {
	if ar == nil || len(ar.GetGrantTypes()) != 1 {
		return "other"
	}
	return ar.GetGrantTypes()[0]
}
