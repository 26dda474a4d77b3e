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
	"github.com/lingpai/lingpai/storage"
)

// identityScopes are scopes about a user; a client_credentials token has no user, so omitting
// scope does not grant them there.
var identityScopes = map[string]bool{
	"openid": true, "profile": true, "email": true, "phone": true, "address": true, "offline_access": true, "offline": true,
}

// Token serves POST /connect/token for every enabled grant.
type Token struct {
	Provider fosite.OAuth2Provider
	Enabled  map[string]bool // grants.enabled
	Logger   *slog.Logger
	// Healthy reports whether the database answers; a server error while it does not becomes a
	// 503 temporarily_unavailable, which clients may retry.
	Healthy func(ctx context.Context) error
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
		WriteError(w, http.StatusMethodNotAllowed, "invalid_request", "The token endpoint accepts POST only.")
		return
	}
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			WriteError(w, http.StatusRequestEntityTooLarge, "invalid_request", "The request body is too large.")
			return
		}
		WriteError(w, http.StatusBadRequest, "invalid_request", "The request body could not be parsed as a form.")
		return
	}
	grant := r.PostForm.Get("grant_type")
	info.Add(slog.String("grant_type", grant))
	if grant != "" && !h.Enabled[grant] {
		info.Add(slog.String("outcome", "unsupported_grant_type"))
		h.countFailure(grant, "unsupported_grant_type")
		WriteError(w, http.StatusBadRequest, "unsupported_grant_type", "The grant type is not supported by this server.")
		return
	}
	basicID, _, basic := r.BasicAuth()
	if id := r.PostForm.Get("client_id"); id != "" {
		info.Add(slog.String("client_id", id))
	} else if basic {
		info.Add(slog.String("client_id", basicID)) // still form-encoded; fine for a log line
	}
	if !basic && r.PostForm.Get("client_id") == "" && r.PostForm.Get("client_assertion") == "" {
		info.Add(slog.String("outcome", "invalid_client"))
		h.countFailure(grant, "invalid_client")
		WriteError(w, http.StatusUnauthorized, "invalid_client", "Client authentication is required (HTTP Basic or client_id and client_secret in the body).")
		return
	}

	ar, err := h.Provider.NewAccessRequest(ctx, r, session.New())
	if err != nil {
		h.fail(ctx, w, ar, err)
		return
	}
	applyDefaults(ar)
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

// applyDefaults grants what fosite leaves ungranted for every grant but refresh_token and
// authorization_code (which carry their grant from the original request): omitted scope means
// every scope the client is allowed (the IdentityServer behaviour the seed asks for).
func applyDefaults(ar fosite.AccessRequester) {
	client := ar.GetClient()
	sess, _ := ar.GetSession().(*session.Session)
	if sess != nil {
		sess.JWTClaims.Extra["client_id"] = client.GetID()
	}
	gt := ar.GetGrantTypes()
	if gt.ExactOne("refresh_token") || gt.ExactOne("authorization_code") {
		return
	}
	cc := gt.ExactOne("client_credentials")
	if len(ar.GetRequestedScopes()) == 0 {
		var scopes fosite.Arguments
		for _, s := range client.GetScopes() {
			if !cc || !identityScopes[s] {
				scopes = append(scopes, s)
			}
		}
		ar.SetRequestedScopes(scopes)
	}
	for _, s := range ar.GetRequestedScopes() {
		ar.GrantScope(s)
	}
	aud := ar.GetRequestedAudience()
	if len(aud) == 0 {
		aud = client.GetAudience()
	}
	for _, a := range aud {
		ar.GrantAudience(a)
	}
	if cc && sess != nil {
		sess.JWTClaims.Subject = client.GetID() // RFC 9068: sub is the client when there is no user
	}
}

func (h *Token) fail(ctx context.Context, w http.ResponseWriter, ar fosite.AccessRequester, err error) {
	info := reqctx.From(ctx)
	// Reuse shows up two ways: a refresh racing another use of the same token (our storage's
	// compare-and-set), or a used or revoked token presented later (fosite's inactive-token path,
	// which revokes the family too). Both are the event operators alert on.
	raced := errors.Is(err, storage.ErrTokenReused)
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
	rfc := fosite.ErrorToRFC6749Error(err)
	// fosite reports a client lookup that failed for any reason as invalid_client, so a database
	// outage would look like bad credentials; the health check tells the two apart.
	storageSuspect := rfc.ErrorField == fosite.ErrServerError.ErrorField ||
		(rfc.ErrorField == fosite.ErrInvalidClient.ErrorField && !errors.Is(err, fosite.ErrNotFound))
	if storageSuspect && storageDown(ctx, h.Healthy) {
		err = fosite.ErrTemporarilyUnavailable.WithHint("The service is temporarily unavailable; retry later.").WithWrap(err)
		rfc = fosite.ErrorToRFC6749Error(err)
	}
	info.Add(slog.String("outcome", rfc.ErrorField))
	h.countFailure(reqGrant(ar), rfc.ErrorField)
	if rfc.CodeField >= 500 {
		h.Logger.ErrorContext(ctx, "token request failed", "request_id", info.RequestID, "error", rfc.ErrorField, "cause", rfc.GetDescription()+" "+rfc.DebugField)
	} else if rfc.DebugField != "" {
		info.Add(slog.String("reason", rfc.DebugField))
	}
	if rfc.ErrorField == fosite.ErrInvalidClient.ErrorField {
		w.Header().Set("WWW-Authenticate", `Basic realm="lingpai", charset="UTF-8"`)
	}
	if ar == nil {
		ar = fosite.NewAccessRequest(session.New())
	}
	h.Provider.WriteAccessError(ctx, w, ar, err)
}

// reqGrant is the grant type of a (possibly nil) access request, for metrics labels.
func reqGrant(ar fosite.AccessRequester) string {
	if ar == nil || len(ar.GetGrantTypes()) != 1 {
		return "other"
	}
	return ar.GetGrantTypes()[0]
}
