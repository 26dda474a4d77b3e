package smsgw

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/lingpai/lingpai/internal/smscode"
)

// AliyunSender calls Alibaba Cloud SMS SendSms (API 2017-05-25) with the RPC signature
// (HMAC-SHA1 over the sorted, percent-encoded query). Implemented from the API documentation
// rather than the SDK, which pulls in a large dependency tree for one call.
type AliyunSender struct {
	Config Aliyun
	Client *http.Client
	Logger *slog.Logger
	Now    func() time.Time
}

// aliyunLimited are the codes Aliyun answers when a number or account sent too much.
var aliyunLimited = map[string]bool{
	"isv.BUSINESS_LIMIT_CONTROL": true, "isv.DAY_LIMIT_CONTROL": true, "isv.MONTH_LIMIT_CONTROL": true,
	"Throttling.User": true, "isv.AMOUNT_NOT_ENOUGH": false,
}

// AliyunPercentEncode is RFC 3986 encoding as Aliyun's signature wants it (space %20, * %2A, ~ kept).
func AliyunPercentEncode(s string) string {
	e := url.QueryEscape(s)
	e = strings.ReplaceAll(e, "+", "%20")
	e = strings.ReplaceAll(e, "*", "%2A")
	return strings.ReplaceAll(e, "%7E", "~")
}

// AliyunSign returns the Signature of params for method with secret.
func AliyunSign(method string, params url.Values, secret string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = AliyunPercentEncode(k) + "=" + AliyunPercentEncode(params.Get(k))
	}
	toSign := method + "&" + AliyunPercentEncode("/") + "&" + AliyunPercentEncode(strings.Join(pairs, "&"))
	m := hmac.New(sha1.New, []byte(secret+"&"))
	m.Write([]byte(toSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// aliyunNumber is the PhoneNumbers form: mainland numbers as their 11 digits, others with their
// country code and no "+".
func aliyunNumber(e164 string) string {
	if strings.HasPrefix(e164, "+86") {
		return strings.TrimPrefix(e164, "+86")
	}
	return strings.TrimPrefix(e164, "+")
}

// Send implements smscode.Sender.
func (a *AliyunSender) Send(ctx context.Context, phone, code string, _ time.Duration) error {
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	tp, _ := json.Marshal(map[string]string{"code": code})
	params := url.Values{
		"AccessKeyId": {a.Config.AccessKeyID}, "Action": {"SendSms"}, "Format": {"JSON"},
		"PhoneNumbers": {aliyunNumber(phone)}, "RegionId": {"cn-hangzhou"}, "SignName": {a.Config.SignName},
		"SignatureMethod": {"HMAC-SHA1"}, "SignatureNonce": {hex.EncodeToString(nonce)}, "SignatureVersion": {"1.0"},
		"TemplateCode": {a.Config.TemplateCode}, "TemplateParam": {string(tp)},
		"Timestamp": {now().UTC().Format("2006-01-02T15:04:05Z")}, "Version": {"2017-05-25"},
	}
	params.Set("Signature", AliyunSign(http.MethodPost, params, a.Config.AccessKeySecret))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(a.Config.Endpoint, "/")+"/",
		strings.NewReader(params.Encode()))
	if err != nil {
		return fmt.Errorf("%w: aliyun: %w", errUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := a.Client.Do(req)
	if err != nil {
		return transportErr("aliyun", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body struct{ Code, Message, RequestId string }
	if err := json.Unmarshal(raw, &body); err != nil {
		return fmt.Errorf("%w: aliyun: HTTP %d, unreadable body", errUnavailable, resp.StatusCode)
	}
	switch {
	case body.Code == "OK":
		return nil
	case aliyunLimited[body.Code]:
		return fmt.Errorf("aliyun SendSms %s (request %s): %w", body.Code, body.RequestId, smscode.ErrGatewayLimited)
	}
	if strings.HasPrefix(body.Code, "InvalidAccessKeyId") || body.Code == "SignatureDoesNotMatch" ||
		body.Code == "isv.SMS_SIGNATURE_ILLEGAL" || body.Code == "isv.SMS_TEMPLATE_ILLEGAL" {
		a.Logger.ErrorContext(ctx, "aliyun SMS is misconfigured", "code", body.Code, "request_id", body.RequestId)
	}
	return fmt.Errorf("%w: aliyun SendSms %s (request %s)", errUnavailable, body.Code, body.RequestId)
}
