package server_test

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lingpai/lingpai/cli"
	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
	"github.com/lingpai/lingpai/internal/upstream/wechat"
	"github.com/lingpai/lingpai/internal/upstream/wechat/wechattest"
	"github.com/lingpai/lingpai/storage"
)

type wxRig struct {
	*lingpaitest.Server
	fake          *wechattest.Fake
	secret, trust string
}

func startWeChat(t *testing.T, backend string, autoRegister bool) *wxRig {
	t.Helper()
	fake := wechattest.New(t)
	fake.AddApp("wxmini", "mini-secret", true)
	fake.AddApp("wxweb", "web-secret", true)
	fake.AddApp("wxapp", "app-secret", false)
	s := lingpaitest.Start(t, backend, func(c *config.Config) {
		c.Grants.Enabled = append(c.Grants.Enabled, "wechat")
		c.WeChat = &wechat.Config{APIBaseURL: fake.URL, Timeout: 2 * time.Second, AutoRegister: &autoRegister, Apps: []wechat.App{
			{ID: "shop", AppID: "wxmini", Secret: "mini-secret", Type: "miniprogram"},
			{ID: "site", AppID: "wxweb", Secret: "web-secret", Type: "oauth"},
			{ID: "legacy", AppID: "wxapp", Secret: "STALE-SECRET", Type: "oauth"},
		}}
	})
	secret := s.Client("app", []string{"wechat", "refresh_token"}, []string{"openid", "profile", "offline_access"})
	trust := s.Client("backend", []string{"wechat"}, []string{"openid"}, func(c *storage.Client) { c.TrustWeChatOpenID = true })
	return &wxRig{Server: s, fake: fake, secret: secret, trust: trust}
}

func (r *wxRig) code(appid, code string) *lingpaitest.Response {
	return r.Token("app", r.secret, url.Values{"grant_type": {"wechat"}, "appid": {appid}, "code": {code}})
}

func TestWeChatSignIn(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		r := startWeChat(t, backend, true)
		mini := r.code("wxmini", r.fake.IssueCode("wxmini", "o-mini-alice", "u-alice"))
		if mini.Status != 200 || mini.Str("refresh_token") == "" {
			t.Fatalf("mini program: %d %s", mini.Status, mini.Raw)
		}
		id := jwtPart(t, mini.Str("id_token"), 1)
		if amr, _ := id["amr"].([]any); len(amr) != 1 || amr[0] != "wechat" {
			t.Fatalf("amr %v", id["amr"])
		}
		if amr, _ := jwtPart(t, mini.Str("access_token"), 1)["amr"].([]any); len(amr) != 1 || amr[0] != "wechat" {
			t.Fatalf("access token amr %v", amr)
		}
		if id["sub"] == "o-mini-alice" || id["sub"] == "u-alice" {
			t.Fatal("sub is WeChat's id, not lingpai's")
		}
		web := r.code("wxweb", r.fake.IssueCode("wxweb", "o-web-alice", "u-alice"))
		if web.Status != 200 || jwtPart(t, web.Str("id_token"), 1)["sub"] != id["sub"] {
			t.Fatalf("same unionid through the website gave another sub: %s", web.Raw)
		}
		ref := r.Token("app", r.secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {mini.Str("refresh_token")}})
		if ref.Status != 200 {
			t.Fatalf("refresh: %s", ref.Raw)
		}
		if amr, _ := jwtPart(t, ref.Str("id_token"), 1)["amr"].([]any); len(amr) != 1 || amr[0] != "wechat" {
			t.Fatalf("refreshed id_token amr %v", amr)
		}
	})
}

func TestWeChatErrors(t *testing.T) {
	r := startWeChat(t, "sqlite", true)
	used := r.fake.IssueCode("wxmini", "o-1", "")
	r.code("wxmini", used)
	tests := []struct {
		name   string
		form   url.Values
		client string
		fail   int
		status int
		code   string
	}{
		{"used code", url.Values{"appid": {"wxmini"}, "code": {used}}, "app", 0, 400, "invalid_grant"},
		{"invalid code", url.Values{"appid": {"wxmini"}, "code": {"nonsense"}}, "app", 0, 400, "invalid_grant"},
		{"rate limited by WeChat", url.Values{"appid": {"wxmini"}, "code": {r.fake.IssueCode("wxmini", "o", "")}}, "app", 45011, 503, "temporarily_unavailable"},
		{"WeChat busy", url.Values{"appid": {"wxmini"}, "code": {r.fake.IssueCode("wxmini", "o", "")}}, "app", -1, 503, "temporarily_unavailable"},
		{"our secret is wrong", url.Values{"appid": {"wxapp"}, "code": {r.fake.IssueCode("wxapp", "o", "")}}, "app", 0, 503, "temporarily_unavailable"},
		{"appid required with several apps", url.Values{"code": {"x"}}, "app", 0, 400, "invalid_request"},
		{"unknown appid", url.Values{"appid": {"wxnope"}, "code": {"x"}}, "app", 0, 400, "invalid_request"},
		{"neither code nor openId", url.Values{"appid": {"wxmini"}}, "app", 0, 400, "invalid_request"},
		{"untrusted client asserting openId", url.Values{"appid": {"wxmini"}, "openId": {"o-1"}}, "app", 0, 400, "unauthorized_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fail != 0 {
				r.fake.FailNext(tt.fail)
			}
			tt.form.Set("grant_type", "wechat")
			resp := r.Token(tt.client, r.secret, tt.form)
			if resp.Status != tt.status || resp.Str("error") != tt.code {
				t.Fatalf("got %d %s", resp.Status, resp.Raw)
			}
		})
	}
	logs := r.Logs.String()
	if !strings.Contains(logs, `"app":"legacy"`) || strings.Contains(logs, "STALE-SECRET") || strings.Contains(logs, "tiihtNczf5v6AKRyjwEUhQ") {
		t.Fatal("misconfiguration not logged by app, or a secret/session_key reached the log")
	}
	// The fake hangs past wechat.timeout: 503, not a hung request.
	r.fake.Hang(time.Minute) // ends when lingpai gives up
	start := time.Now()
	if resp := r.code("wxmini", r.fake.IssueCode("wxmini", "o", "")); resp.Status != 503 || time.Since(start) > 10*time.Second {
		t.Fatalf("timeout: %d after %s", resp.Status, time.Since(start))
	}
}

func TestWeChatTrustedOpenIDAndAutoRegisterOff(t *testing.T) {
	r := startWeChat(t, "sqlite", false)
	// auto_register off: an unknown identity is refused.
	if resp := r.code("wxmini", r.fake.IssueCode("wxmini", "o-bob", "u-bob")); resp.Str("error") != "invalid_grant" {
		t.Fatalf("unknown identity without auto_register: %s", resp.Raw)
	}
	// An operator links bob's WeChat identity to his account, then his sign-ins land there.
	bob := r.User("bob", "bob-password-1")
	cfgFile := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfgFile, []byte("log:\n  level: warn\nwechat:\n  apps: [{id: shop, appid: wxmini, secret: mini-secret, type: miniprogram}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LINGPAI_DATABASE_DSN", r.Config.Database.DSN)
	t.Setenv("LINGPAI_DATABASE_DRIVER", r.Config.Database.Driver)
	var out, errOut bytes.Buffer
	if code := cli.Main(context.Background(), []string{"user", "link-wechat", "--config", cfgFile, "--username", "bob",
		"--appid", "wxmini", "--openid", "o-bob", "--unionid", "u-bob"}, &out, &errOut); code != 0 {
		t.Fatalf("link-wechat: %s", errOut.String())
	}
	resp := r.code("wxmini", r.fake.IssueCode("wxmini", "o-bob", "u-bob"))
	if resp.Status != 200 || jwtPart(t, resp.Str("access_token"), 1)["sub"] != bob.ID {
		t.Fatalf("linked user: %s", resp.Raw)
	}
	// A trusted backend may assert the openId; nothing is asked of WeChat.
	before := r.fake.Requests("/sns/jscode2session")
	trusted := r.Token("backend", r.trust, url.Values{"grant_type": {"wechat"}, "appid": {"wxmini"}, "openId": {"o-bob"}})
	if trusted.Status != 200 || jwtPart(t, trusted.Str("access_token"), 1)["sub"] != bob.ID || r.fake.Requests("/sns/jscode2session") != before {
		t.Fatalf("trusted openId: %s", trusted.Raw)
	}
	if unknown := r.Token("backend", r.trust, url.Values{"grant_type": {"wechat"}, "appid": {"wxmini"}, "openId": {"o-nobody"}}); unknown.Str("error") != "invalid_grant" {
		t.Fatalf("unknown openId without auto_register: %s", unknown.Raw)
	}
}
