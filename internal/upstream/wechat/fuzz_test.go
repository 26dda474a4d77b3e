package wechat_test

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

	"github.com/lingpai/lingpai/internal/upstream/wechat"
)

// canned answers every request with one status and body, as a WeChat API gone strange would.
type canned struct {
	status int
	body   string
}

func (c canned) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: c.status, Body: io.NopCloser(strings.NewReader(c.body)), Header: http.Header{}}, nil
}

// FuzzExchangeAnswer feeds WeChat's code-exchange answer parser any status and body: it never
// panics, an identity comes only from a 200 whose JSON carries that openid and no error code, and
// every failure is one of the package's kinds (so the grant maps it to invalid_grant or 503).
func FuzzExchangeAnswer(f *testing.F) {
	f.Add(200, `{"session_key":"tiihtNczf5v6AKRyjwEUhQ==","openid":"o-1","unionid":"u-1"}`)
	f.Add(200, `{"errcode":40029,"errmsg":"invalid code"}`)
	f.Add(200, `{"errcode":0,"openid":"o-2"}`)
	f.Add(200, `{"errcode":null,"openid":""}`)
	f.Add(200, `<html>502 Bad Gateway</html>`)
	f.Add(502, ``)
	f.Add(200, `{"openid":["o"]}`)
	f.Fuzz(func(t *testing.T, status int, body string) {
		if status < 100 || status > 999 {
			status = 200
		}
		c, err := wechat.New(wechat.Config{APIBaseURL: "http://wechat.invalid", Timeout: time.Second, Apps: []wechat.App{
			{ID: "mini", AppID: "wxmini", Secret: "s", Type: "miniprogram"},
		}}, &http.Client{Transport: canned{status, body}}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		app, _ := c.App("wxmini")
		id, err := c.Exchange(context.Background(), app, "code")
		if err != nil {
			for _, kind := range []error{wechat.ErrInvalidCode, wechat.ErrUnavailable, wechat.ErrMisconfigured} {
				if errors.Is(err, kind) {
					return
				}
			}
			t.Fatalf("unclassified failure: %v", err)
		}
		var parsed struct {
			ErrCode int    `json:"errcode"`
			OpenID  string `json:"openid"`
		}
		if status != 200 || json.Unmarshal([]byte(body), &parsed) != nil || parsed.ErrCode != 0 || id.OpenID == "" || parsed.OpenID != id.OpenID {
			t.Fatalf("identity %+v from %d %q", id, status, body)
		}
	})
}
