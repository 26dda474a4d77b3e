package smsgw

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lingpai/lingpai/internal/smscode"
)

// canned answers every request with one status and body, as a gateway gone strange would.
type canned struct {
	status int
	body   string
}

func (c canned) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: c.status, Body: io.NopCloser(strings.NewReader(c.body)), Header: http.Header{}}, nil
}

// FuzzGatewayAnswer feeds the Aliyun and Tencent answer parsers any status and body: they never
// panic, report "sent" only for the vendor's own success answer, and every failure is either the
// gateway's rate limit or unavailable (so /connect/sms/code answers 429 or 503, never 500).
func FuzzGatewayAnswer(f *testing.F) {
	f.Add(true, 200, `{"Code":"OK","Message":"OK","RequestId":"r","BizId":"b"}`)
	f.Add(true, 200, `{"Code":"isv.BUSINESS_LIMIT_CONTROL","Message":"limit"}`)
	f.Add(true, 500, `<html>oops</html>`)
	f.Add(false, 200, `{"Response":{"SendStatusSet":[{"Code":"Ok","PhoneNumber":"+8613800138000"}],"RequestId":"r"}}`)
	f.Add(false, 200, `{"Response":{"Error":{"Code":"LimitExceeded.PhoneNumberDailyLimit"},"RequestId":"r"}}`)
	f.Add(false, 200, `{"Response":{"SendStatusSet":[],"RequestId":"r"}}`)
	f.Add(false, 200, `{"Response":null}`)
	f.Fuzz(func(t *testing.T, aliyun bool, status int, body string) {
		if status < 100 || status > 999 {
			status = 200
		}
		hc := &http.Client{Transport: canned{status, body}}
		logger := slog.New(slog.DiscardHandler)
		now := func() time.Time { return time.Unix(1700000000, 0) }
		var err error
		var sent bool
		if aliyun {
			s := &AliyunSender{Config: Aliyun{Endpoint: "http://sms.invalid", AccessKeyID: "id", AccessKeySecret: "secret", SignName: "s", TemplateCode: "t"},
				Client: hc, Logger: logger, Now: now}
			err = s.Send(context.Background(), "+8613800138000", "123456", 5*time.Minute)
			var a struct{ Code string }
			sent = json.Unmarshal([]byte(body), &a) == nil && a.Code == "OK"
		} else {
			s := &TencentSender{Config: Tencent{Endpoint: "http://sms.invalid", SecretID: "id", SecretKey: "secret", SdkAppID: "1", SignName: "s", TemplateID: "t", Region: "ap-guangzhou"},
				Client: hc, Logger: logger, Now: now}
			err = s.Send(context.Background(), "+8613800138000", "123456", 5*time.Minute)
			var tc struct {
				Response struct {
					Error         *struct{ Code string }
					SendStatusSet []struct{ Code string }
				}
			}
			sent = json.Unmarshal([]byte(body), &tc) == nil && tc.Response.Error == nil &&
				len(tc.Response.SendStatusSet) == 1 && tc.Response.SendStatusSet[0].Code == "Ok"
		}
		if (err == nil) != sent {
			t.Fatalf("Send = %v for %d %q (vendor success: %v)", err, status, body, sent)
		}
		if err != nil && !errors.Is(err, errUnavailable) && !errors.Is(err, smscode.ErrGatewayLimited) {
			t.Fatalf("unclassified failure: %v", err)
		}
	})
}
