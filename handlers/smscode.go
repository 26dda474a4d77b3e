package handlers

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/internal/reqctx"
	"github.com/lingpai/lingpai/internal/smscode"
)

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
}

func (h *SMSCode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	info := reqctx.From(ctx)
	if err := r.ParseForm(); err != nil {
		WriteError(w, http.StatusBadRequest, "invalid_request", "The request body could not be parsed as a form.")
		return
	}
	client, err := h.Authenticate(ctx, r)
	if err != nil {
		rfc := fosite.ErrorToRFC6749Error(err)
		if rfc.CodeField == http.StatusUnauthorized || rfc.ErrorField == "invalid_client" {
			WriteError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed.")
			return
		}
		WriteError(w, http.StatusBadRequest, rfc.ErrorField, rfc.GetDescription())
		return
	}
	info.Add(slog.String("client_id", client.GetID()))
	if !client.GetGrantTypes().Has("sms") {
		WriteError(w, http.StatusBadRequest, "unauthorized_client", "The client is not allowed to use grant type 'sms'.")
		return
	}
	raw := r.PostForm.Get("phone")
	if raw == "" {
		WriteError(w, http.StatusBadRequest, "invalid_request", "The parameter phone is required.")
		return
	}
	phone, err := h.Normalize(raw)
	if err != nil {
		WriteError(w, http.StatusBadRequest, "invalid_request", "The phone number is not valid.")
		return
	}
	deliver, err := h.Deliver(ctx, phone)
	if err != nil {
		h.Logger.ErrorContext(ctx, "sms code: account lookup failed", "error", err)
		WriteError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Retry later.")
		return
	}
	issued, err := h.Codes.Request(ctx, phone, info.ClientIP, deliver)
	var limit *smscode.LimitError
	switch {
	case errors.As(err, &limit):
		info.Add(slog.String("outcome", "slow_down"), slog.String("limit", limit.Limit))
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(limit.RetryAfter.Seconds()))))
		WriteJSON(w, http.StatusTooManyRequests, map[string]any{
			"error": "slow_down", "error_description": "Too many codes requested; retry later.",
			"retry_after": int(math.Ceil(limit.RetryAfter.Seconds())),
		})
	case err != nil:
		info.Add(slog.String("outcome", "temporarily_unavailable"))
		h.Logger.ErrorContext(ctx, "sms code not sent", "event", "sms.send_failed", "error", err.Error())
		WriteError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The SMS gateway is unavailable; retry later.")
	default:
		info.Add(slog.String("outcome", "sent"), slog.Bool("delivered", deliver))
		WriteJSON(w, http.StatusOK, issued)
	}
}
