package smsgw

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// SignatureHeader carries the body's HMAC-SHA256, keyed by sms.webhook.secret.
const SignatureHeader = "X-Lingpai-Signature"

// WebhookSender POSTs {"phone","code","ttl"} to an in-house gateway.
type WebhookSender struct {
	URL    string
	Secret []byte
	Client *http.Client
}

// Sign returns the X-Lingpai-Signature value for body.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifyWebhookSignature checks a received X-Lingpai-Signature in constant time; receivers use it.
func VerifyWebhookSignature(secret, body []byte, header string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(strings.TrimSpace(header)))
}

// Send implements smscode.Sender. Any non-2xx (429 included: an in-house gateway's status codes
// carry no agreed meaning), a timeout or a network error means the gateway is unavailable.
func (w *WebhookSender) Send(ctx context.Context, phone, code string, ttl time.Duration) error {
	body, err := json.Marshal(map[string]any{"phone": phone, "code": code, "ttl": int(ttl.Seconds())})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: webhook: %w", errUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Sign(w.Secret, body))
	resp, err := w.Client.Do(req)
	if err != nil {
		return transportErr("webhook", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%w: webhook: HTTP %d", errUnavailable, resp.StatusCode)
	}
	return nil
}
