// Package wechat is grant_type=wechat: sign in with a WeChat login code, verified by WeChat itself.
// A bare openId (the seed's literal form) is accepted only from a confidential client registered as
// trusted to assert it, because an openId is not a secret: anyone who knows one could type it.
package wechat

import (
	"context"
	"errors"
	"fmt"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/grants"
	wx "github.com/lingpai/lingpai/internal/upstream/wechat"
	"github.com/lingpai/lingpai/storage"
)

// GrantType is the grant_type value.
const GrantType = "wechat"

// WeChat is what the grant needs of the WeChat client.
type WeChat interface {
	App(appid string) (wx.App, error)
	Exchange(ctx context.Context, app wx.App, code string) (wx.Identity, error)
}

// Accounts is what the grant needs of accounts.
type Accounts interface {
	Resolve(ctx context.Context, ext accounts.External, create bool) (*storage.User, error)
	Active(ctx context.Context, subject string) (bool, error)
	// Claims are the user's claims, stored ones (imported AspNetUserClaims, roles) included.
	Claims(ctx context.Context, subject string) (map[string]any, error)
}

// Grant resolves a WeChat identity to a lingpai account.
type Grant struct {
	WeChat       WeChat
	Accounts     Accounts
	AutoRegister bool
}

var (
	_ grants.Grant        = (*Grant)(nil)
	_ grants.Rechecker    = (*Grant)(nil)
	_ grants.SecretParams = (*Grant)(nil)
)

// Type implements grants.Grant.
func (g *Grant) Type() string { return GrantType }

// SecretParams implements grants.SecretParams.
func (g *Grant) SecretParams() []string { return []string{"code"} }

// Authenticate implements grants.Grant.
func (g *Grant) Authenticate(ctx context.Context, req grants.Request) (grants.Identity, error) {
	code, openID := req.Form.Get("code"), req.Form.Get("openId")
	if code == "" && openID == "" {
		return grants.Identity{}, grants.Hinted(grants.ErrInvalidRequest, "Send code (a WeChat login code), or openId from a trusted backend.")
	}
	if code == "" {
		// Checked before anything is looked up: an untrusted client learns nothing.
		c, ok := req.Client.(grants.ClientPolicy)
		if !ok || !c.TrustsWeChatOpenID() {
			return grants.Identity{}, grants.Hinted(grants.ErrUnauthorizedClient,
				"This client may not assert a WeChat openId; send a WeChat login code instead.")
		}
	}
	app, err := g.WeChat.App(req.Form.Get("appid"))
	if err != nil {
		return grants.Identity{}, grants.Hinted(fmt.Errorf("%w: %w", grants.ErrInvalidRequest, err), appHint(err))
	}
	var id wx.Identity
	if code != "" {
		id, err = g.WeChat.Exchange(ctx, app, code)
		switch {
		case errors.Is(err, wx.ErrInvalidCode):
			return grants.Identity{}, fmt.Errorf("%w: %w", grants.ErrInvalidCredentials, err)
		case err != nil:
			return grants.Identity{}, fmt.Errorf("%w: %w", grants.ErrUnavailable, err)
		}
	} else {
		id = wx.Identity{AppID: app.AppID, OpenID: openID, UnionID: req.Form.Get("unionId")}
	}
	user, err := g.Accounts.Resolve(ctx, external(id), g.AutoRegister)
	if errors.Is(err, accounts.ErrNoAccount) || errors.Is(err, accounts.ErrDisabled) {
		return grants.Identity{}, fmt.Errorf("wechat: %w: %w", err, grants.ErrInvalidCredentials)
	}
	if err != nil {
		return grants.Identity{}, fmt.Errorf("wechat: account: %w", err)
	}
	claims, err := g.Accounts.Claims(ctx, user.ID)
	if err != nil {
		return grants.Identity{}, fmt.Errorf("wechat: claims: %w", err)
	}
	return grants.Identity{Subject: user.ID, Claims: claims, AMR: []string{"wechat"}}, nil
}

// appHint is what the client is told about an appid the server cannot use.
func appHint(err error) string {
	if errors.Is(err, wx.ErrAppRequired) {
		return "appid is required when several WeChat apps are configured"
	}
	return "unknown appid"
}

// external links by unionid when WeChat gives one (the same person across a mini program and a
// website is one user), and always by (appid, openid).
func external(id wx.Identity) accounts.External {
	byOpenID := accounts.External{Provider: "wechat-openid:" + id.AppID, Subject: id.OpenID}
	if id.UnionID == "" {
		return byOpenID
	}
	return accounts.External{Provider: "wechat-unionid", Subject: id.UnionID, Also: []accounts.External{byOpenID}}
}

// External is how `lingpai user link-wechat` links an identity.
func External(appid, openid, unionid string) accounts.External {
	return external(wx.Identity{AppID: appid, OpenID: openid, UnionID: unionid})
}

// Recheck implements grants.Rechecker.
func (g *Grant) Recheck(ctx context.Context, subject, _ string) error {
	return grants.RecheckActive(ctx, g.Accounts, subject)
}
