package wechat_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/lingpai/lingpai/internal/upstream/wechat"
	"github.com/lingpai/lingpai/internal/upstream/wechat/wechattest"
)

func TestExchange(t *testing.T) {
	fake := wechattest.New(t)
	fake.AddApp("wxmini", "mini-secret", true)
	fake.AddApp("wxweb", "web-secret", false)
	var logs bytes.Buffer
	c, err := wechat.New(wechat.Config{APIBaseURL: fake.URL, Timeout: 2 * time.Second, Apps: []wechat.App{
		{ID: "mini", AppID: "wxmini", Secret: "mini-secret", Type: "miniprogram"},
		{ID: "web", AppID: "wxweb", Secret: "web-secret", Type: "oauth"},
		{ID: "broken", AppID: "wxmini", Secret: "stale-secret", Type: "miniprogram"},
	}}, nil, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mini, _ := c.App("wxmini")
	web, _ := c.App("wxweb")
	broken := wechat.App{ID: "broken", AppID: "wxmini", Secret: "stale-secret", Type: "miniprogram"}
	code := fake.IssueCode("wxmini", "o-mini-1", "u-1")
	tests := []struct {
		name string
		app  wechat.App
		code func() string
		fail int
		want error
		id   wechat.Identity
	}{
		{"mini program with unionid", mini, func() string { return code }, 0, nil, wechat.Identity{AppID: "wxmini", OpenID: "o-mini-1", UnionID: "u-1"}},
		{"used code", mini, func() string { return code }, 0, wechat.ErrInvalidCode, wechat.Identity{}},
		{"unknown code", mini, func() string { return "nope" }, 0, wechat.ErrInvalidCode, wechat.Identity{}},
		{"code from another app", web, func() string { return fake.IssueCode("wxmini", "o", "") }, 0, wechat.ErrInvalidCode, wechat.Identity{}},
		{"oauth app without unionid", web, func() string { return fake.IssueCode("wxweb", "o-web-1", "u-ignored") }, 0, nil, wechat.Identity{AppID: "wxweb", OpenID: "o-web-1"}},
		{"rate limited", mini, func() string { return fake.IssueCode("wxmini", "o", "") }, 45011, wechat.ErrUnavailable, wechat.Identity{}},
		{"busy", mini, func() string { return fake.IssueCode("wxmini", "o", "") }, -1, wechat.ErrUnavailable, wechat.Identity{}},
		{"wrong secret", broken, func() string { return fake.IssueCode("wxmini", "o", "") }, 0, wechat.ErrMisconfigured, wechat.Identity{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fail != 0 {
				fake.FailNext(tt.fail)
			}
			id, err := c.Exchange(ctx, tt.app, tt.code())
			if !errors.Is(err, tt.want) || id != tt.id {
				t.Fatalf("Exchange = %+v, %v; want %+v, %v", id, err, tt.id, tt.want)
			}
		})
	}
	if !strings.Contains(logs.String(), `"app":"broken"`) || strings.Contains(logs.String(), "stale-secret") {
		t.Fatalf("misconfiguration log: %s", logs.String())
	}
	fake.Hang(time.Minute)
	_, err = c.Exchange(ctx, mini, fake.IssueCode("wxmini", "o", ""))
	if !errors.Is(err, wechat.ErrUnavailable) || strings.Contains(err.Error(), "mini-secret") {
		t.Fatalf("timeout: %v", err)
	}
	// One request per exchange, no retries: 6 mini-program exchanges plus the timeout, 2 OAuth ones.
	if mini, oauth := fake.Requests("/sns/jscode2session"), fake.Requests("/sns/oauth2/access_token"); mini != 7 || oauth != 2 {
		t.Fatalf("requests: jscode2session %d (want 7), oauth2/access_token %d (want 2)", mini, oauth)
	}
}

func TestAppSelectionAndValidate(t *testing.T) {
	one, _ := wechat.New(wechat.Config{Apps: []wechat.App{{ID: "a", AppID: "wxa", Secret: "s", Type: "oauth"}}}, nil, slog.New(slog.DiscardHandler))
	if a, err := one.App(""); err != nil || a.AppID != "wxa" {
		t.Fatalf("single app default: %v", err)
	}
	two, _ := wechat.New(wechat.Config{Apps: []wechat.App{{ID: "a", AppID: "wxa", Secret: "s", Type: "oauth"}, {ID: "b", AppID: "wxb", Secret: "s", Type: "miniprogram"}}}, nil, slog.New(slog.DiscardHandler))
	if _, err := two.App(""); !errors.Is(err, wechat.ErrAppRequired) {
		t.Fatalf("two apps, none named: %v", err)
	}
	if _, err := two.App("wxz"); !errors.Is(err, wechat.ErrUnknownApp) {
		t.Fatalf("unknown app: %v", err)
	}
	cfg := wechat.Config{Apps: []wechat.App{{ID: "a", AppID: "wxa", Type: "web"}, {ID: "a", AppID: "wxa", Secret: "s", Type: "oauth"}}}
	cfg.SetDefaults()
	msg := ""
	for _, e := range cfg.Validate("wechat") {
		msg += e.Error() + "\n"
	}
	for _, want := range []string{"wechat.apps[0].type", "wechat.apps[0].secret", "wechat.apps[1].id", "wechat.apps[1].appid"} {
		if !strings.Contains(msg, want) {
			t.Errorf("validation does not name %s:\n%s", want, msg)
		}
	}
}
