package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/internal/reqctx"
	"github.com/lingpai/lingpai/internal/smscode"
)

// errTooManyCodes is a limit on code requests (the error code is RFC 8628's).
var errTooManyCodes = rfcError(http.StatusTooManyRequests, "slow_down", "Too many codes requested; retry later.")

// SMSCode serves POST /connect/sms/code: a client allowed the sms grant asks for a code to be sent
// to phone. The answer is the same 200 whether or not the phone has an account.
type SMSCode struct {
	// Authenticate authenticates the client exactly as the token endpoint does.
	Authenticate func(ctx context.Context, r *http.Request) (fosite.Client, error)
	Codes        *smscode.Service
	Normalize    func(raw string) (string, error)
	// Deliver reports whether a code for phone is really sent: the phone has an account, or
	// sms.auto_register is on.
	Deliver func(ctx context.Context, phone string) (bool, error)
	Logger  *slog.Logger
	// Unavailable and Healthy classify failures as for Token.
	Unavailable func(error) bool
	Healthy     func(ctx context.Context) error
}

func (h *SMSCode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	info := reqctx.From(ctx)
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
		WriteError(w, errClientIDMismatch)
		return
	}
	client, err := h.Authenticate(ctx, r)
	if err != nil {
		if err = classify(ctx, err, h.Unavailable, h.Healthy); isUnavailable(err) {
			info.Add(slog.String("outcome", "temporarily_unavailable"))
			WriteError(w, err)
			return
		}
		rfc := fosite.ErrorToRFC6749Error(err)
		if rfc.CodeField == http.StatusUnauthorized || errors.Is(err, fosite.ErrInvalidClient) {
			WriteError(w, errClientAuthFailed)
			return
		}
		WriteError(w, err)
		return
	}
	info.Add(slog.String("client_id", client.GetID()))
	if !client.GetGrantTypes().Has("sms") {
		WriteError(w, fosite.ErrUnauthorizedClient.WithHint("The client is not allowed to use grant type 'sms'."))
		return
	}
	raw := r.PostForm.Get("phone")
	if raw == "" {
		WriteError(w, fosite.ErrInvalidRequest.WithHint("The parameter phone is required."))
		return
	}
	phone, err := h.Normalize(raw)
	if err != nil {
		WriteError(w, fosite.ErrInvalidRequest.WithHint("The phone number is not valid."))
		return
	}
	deliver, err := h.Deliver(ctx, phone)
	if err != nil {
		h.Logger.ErrorContext(ctx, "sms code: account lookup failed", "error", err)
		WriteError(w, errUnavailable)
		return
	}
	issued, err := h.Codes.Request(ctx, phone, info.ClientIP, deliver)
	var limit *smscode.LimitError
	switch {
	case errors.As(err, &limit):
		info.Add(slog.String("outcome", "slow_down"), slog.String("limit", limit.Limit))
		WriteError(w, withRetryAfter(errTooManyCodes, limit.RetryAfter))
	case err != nil:
		info.Add(slog.String("outcome", "temporarily_unavailable"))
		h.Logger.ErrorContext(ctx, "sms code not sent", "event", "sms.send_failed", "error", err.Error())
		WriteError(w, rfcError(http.StatusServiceUnavailable, "temporarily_unavailable", "The SMS gateway is unavailable; retry later."))
	default:
		info.Add(slog.String("outcome", "sent"), slog.Bool("delivered", deliver))
		WriteJSON(w, http.StatusOK, issued)
	}
}
