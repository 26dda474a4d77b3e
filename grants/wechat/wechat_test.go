package wechat

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/grants"
	wx "github.com/lingpai/lingpai/internal/upstream/wechat"
	"github.com/lingpai/lingpai/storage"
)

// fakeWeChat knows one app and issues identities for known codes; upstream says what Exchange
// fails with for any other code.
type fakeWeChat struct {
	codes    map[string]wx.Identity
	upstream error
}

func (f *fakeWeChat) App(appid string) (wx.App, error) {
	switch appid {
	case "", "wxweb":
		return wx.App{AppID: "wxweb", Type: "oauth"}, nil
	}
	return wx.App{}, wx.ErrUnknownApp
}

func (f *fakeWeChat) Exchange(_ context.Context, _ wx.App, code string) (wx.Identity, error) {
	if id, ok := f.codes[code]; ok {
		return id, nil
	}
	if f.upstream != nil {
		return wx.Identity{}, f.upstream
	}
	return wx.Identity{}, wx.ErrInvalidCode
}

type users struct {
	linked   map[string]string // "provider/subject" -> user id
	disabled map[string]bool
	last     accounts.External
}

func (u *users) Resolve(_ context.Context, ext accounts.External, create bool) (*storage.User, error) {
	u.last = ext
	id, ok := u.linked[ext.Provider+"/"+ext.Subject]
	switch {
	case ok && u.disabled[id]:
		return nil, accounts.ErrDisabled
	case ok:
		return &storage.User{ID: id}, nil
	case create:
		return &storage.User{ID: "new"}, nil
	}
	return nil, accounts.ErrNoAccount
}

func (u *users) Active(context.Context, string) (bool, error) { return true, nil }

func (u *users) Claims(context.Context, string) (map[string]any, error) { return map[string]any{}, nil }

// client is a fosite client with lingpai's policy; trusted says whether it may assert an openId.
type client struct {
	fosite.DefaultClient
	trusted bool
}

func (c *client) GetName() string                     { return c.ID }
func (c *client) MustUsePKCE() bool                   { return false }
func (c *client) NeedsConsent() bool                  { return false }
func (c *client) GetPostLogoutRedirectURIs() []string { return nil }
func (c *client) TrustsWeChatOpenID() bool            { return c.trusted }

func TestAuthenticate(t *testing.T) {
	app := &client{DefaultClient: fosite.DefaultClient{ID: "app"}}
	backend := &client{DefaultClient: fosite.DefaultClient{ID: "backend"}, trusted: true}
	tests := []struct {
		name     string
		client   fosite.Client
		form     url.Values
		upstream error
		auto     bool
		want     error
		subject  string
		provider string // the identity the account is looked up by
	}{
		{name: "code with unionid", client: app, form: url.Values{"code": {"c-union"}}, want: nil, subject: "u-alice", provider: "wechat-unionid"},
		{name: "code without unionid", client: app, form: url.Values{"code": {"c-open"}}, want: nil, subject: "u-bob", provider: "wechat-openid:wxweb"},
		{name: "invalid code", client: app, form: url.Values{"code": {"used"}}, want: grants.ErrInvalidCredentials},
		{name: "WeChat down", client: app, form: url.Values{"code": {"x"}}, upstream: wx.ErrUnavailable, want: grants.ErrUnavailable},
		{name: "neither code nor openId", client: app, form: url.Values{}, want: grants.ErrInvalidRequest},
		{name: "unknown appid", client: app, form: url.Values{"code": {"c-union"}, "appid": {"wxother"}}, want: grants.ErrInvalidRequest},
		{name: "openId from an untrusted client", client: app, form: url.Values{"openId": {"o-bob"}}, want: grants.ErrUnauthorizedClient},
		{name: "openId from a plain fosite client", client: &fosite.DefaultClient{ID: "x"}, form: url.Values{"openId": {"o-bob"}}, want: grants.ErrUnauthorizedClient},
		{name: "openId from a trusted backend", client: backend, form: url.Values{"openId": {"o-bob"}}, want: nil, subject: "u-bob"},
		{name: "disabled account", client: app, form: url.Values{"code": {"c-carol"}}, want: grants.ErrInvalidCredentials},
		{name: "unknown identity", client: app, form: url.Values{"code": {"c-new"}}, want: grants.ErrInvalidCredentials},
		{name: "unknown identity, auto_register", client: app, form: url.Values{"code": {"c-new"}}, auto: true, want: nil, subject: "new"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			us := &users{
				linked:   map[string]string{"wechat-unionid/un-alice": "u-alice", "wechat-openid:wxweb/o-bob": "u-bob", "wechat-openid:wxweb/o-carol": "u-carol"},
				disabled: map[string]bool{"u-carol": true},
			}
			g := &Grant{WeChat: &fakeWeChat{upstream: tt.upstream, codes: map[string]wx.Identity{
				"c-union": {AppID: "wxweb", OpenID: "o-alice", UnionID: "un-alice"},
				"c-open":  {AppID: "wxweb", OpenID: "o-bob"},
				"c-carol": {AppID: "wxweb", OpenID: "o-carol"},
				"c-new":   {AppID: "wxweb", OpenID: "o-new"},
			}}, Accounts: us, AutoRegister: tt.auto}
			id, err := g.Authenticate(context.Background(), grants.Request{Form: tt.form, Client: tt.client})
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if id.Subject != tt.subject {
				t.Fatalf("subject %q, want %q", id.Subject, tt.subject)
			}
			if tt.provider != "" && us.last.Provider != tt.provider {
				t.Fatalf("looked up by %q, want %q", us.last.Provider, tt.provider)
			}
			if errors.Is(tt.want, grants.ErrInvalidRequest) && tt.form.Get("appid") != "" {
				var h *grants.Hint
				if !errors.As(err, &h) || h.Msg != "unknown appid" {
					t.Fatalf("hint %v", err)
				}
			}
		})
	}
}
