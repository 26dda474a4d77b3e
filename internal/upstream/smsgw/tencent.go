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
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lingpai/lingpai/internal/smscode"
)

// TencentSender calls Tencent Cloud SMS SendSms (API 2021-01-11) signed with TC3-HMAC-SHA256,
// implemented from the API documentation rather than the SDK.
type TencentSender struct {
	Config Tencent
	Client *http.Client
	Logger *slog.Logger
	Now    func() time.Time
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TencentAuthorization returns the Authorization header of a TC3-HMAC-SHA256 POST of payload.
func TencentAuthorization(secretID, secretKey, host, action, contentType string, ts int64, payload []byte) string {
	const service = "sms"
	date := time.Unix(ts, 0).UTC().Format("2006-01-02")
	canonicalHeaders := "content-type:" + contentType + "\nhost:" + host + "\nx-tc-action:" + strings.ToLower(action) + "\n"
	signedHeaders := "content-type;host;x-tc-action"
	canonicalRequest := strings.Join([]string{"POST", "/", "", canonicalHeaders, signedHeaders, sha256hex(payload)}, "\n")
	scope := date + "/" + service + "/tc3_request"
	toSign := "TC3-HMAC-SHA256\n" + strconv.FormatInt(ts, 10) + "\n" + scope + "\n" + sha256hex([]byte(canonicalRequest))
	key := hmacSHA256(hmacSHA256(hmacSHA256([]byte("TC3"+secretKey), date), service), "tc3_request")
	sig := hex.EncodeToString(hmacSHA256(key, toSign))
	return "TC3-HMAC-SHA256 Credential=" + secretID + "/" + scope + ", SignedHeaders=" + signedHeaders + ", Signature=" + sig
}

// Send implements smscode.Sender.
func (t *TencentSender) Send(ctx context.Context, phone, code string, ttl time.Duration) error {
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	payload, _ := json.Marshal(map[string]any{
		"PhoneNumberSet": []string{phone}, "SmsSdkAppId": t.Config.SdkAppID, "SignName": t.Config.SignName,
		"TemplateId": t.Config.TemplateID, "TemplateParamSet": templateParams(t.Config.TemplateParams, code, ttl),
	})
	u, err := url.Parse(t.Config.Endpoint)
	if err != nil {
		return fmt.Errorf("%w: tencent: endpoint: %w", errUnavailable, err)
	}
	const ctype = "application/json; charset=utf-8"
	ts := now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(t.Config.Endpoint, "/")+"/", bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("%w: tencent: %w", errUnavailable, err)
	}
	h := req.Header
	h.Set("Content-Type", ctype)
	h.Set("X-TC-Action", "SendSms")
	h.Set("X-TC-Version", "2021-01-11")
	h.Set("X-TC-Timestamp", strconv.FormatInt(ts, 10))
	h.Set("X-TC-Region", t.Config.Region)
	h.Set("Authorization", TencentAuthorization(t.Config.SecretID, t.Config.SecretKey, u.Host, "SendSms", ctype, ts, payload))
	resp, err := t.Client.Do(req)
	if err != nil {
		return transportErr("tencent", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body struct {
		Response struct {
			Error         *struct{ Code, Message string }
			SendStatusSet []struct {
				Code, Message, PhoneNumber string
			}
			RequestId string
		}
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return fmt.Errorf("%w: tencent: HTTP %d, unreadable body", errUnavailable, resp.StatusCode)
	}
	r := body.Response
	if r.Error != nil {
		if strings.HasPrefix(r.Error.Code, "AuthFailure") || strings.HasPrefix(r.Error.Code, "FailedOperation.Sign") ||
			strings.HasPrefix(r.Error.Code, "FailedOperation.Template") {
			t.Logger.ErrorContext(ctx, "tencent SMS is misconfigured", "code", r.Error.Code, "request_id", r.RequestId)
		}
		if strings.HasPrefix(r.Error.Code, "LimitExceeded") || r.Error.Code == "RequestLimitExceeded" {
			return fmt.Errorf("tencent SendSms %s (request %s): %w", r.Error.Code, r.RequestId, smscode.ErrGatewayLimited)
		}
		return fmt.Errorf("%w: tencent SendSms %s (request %s)", errUnavailable, r.Error.Code, r.RequestId)
	}
	if len(r.SendStatusSet) != 1 {
		return fmt.Errorf("%w: tencent SendSms: %d statuses for one number", errUnavailable, len(r.SendStatusSet))
	}
	switch st := r.SendStatusSet[0]; {
	case st.Code == "Ok":
		return nil
	case strings.HasPrefix(st.Code, "LimitExceeded"):
		return fmt.Errorf("tencent SendSms %s (request %s): %w", st.Code, r.RequestId, smscode.ErrGatewayLimited)
	default:
		return fmt.Errorf("%w: tencent SendSms %s (request %s)", errUnavailable, st.Code, r.RequestId)
	}
}

// templateParams fills the template's parameters in the configured order (default: code, minutes).
func templateParams(names []string, code string, ttl time.Duration) []string {
	if len(names) == 0 {
		names = []string{"code", "minutes"}
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if n == "minutes" {
			out = append(out, strconv.Itoa(int(ttl.Minutes())))
		} else {
			out = append(out, code)
		}
	}
	return out
}
