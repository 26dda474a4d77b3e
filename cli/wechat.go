package cli

import (
	"errors"
	"fmt"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/config"
	wechatgrant "github.com/lingpai/lingpai/grants/wechat"
	"github.com/lingpai/lingpai/storage"
)

// userLinkWechat links a WeChat identity to an existing user, so their first WeChat sign-in lands
// on that account.
func (e *env) userLinkWechat(args []string) error {
	fs, cfgPath := e.flags("user link-wechat")
	username := fs.String("username", "", "the lingpai user (required)")
	appid := fs.String("appid", "", "WeChat AppID the openid belongs to (required)")
	openid := fs.String("openid", "", "the user's openid in that app (required)")
	unionid := fs.String("unionid", "", "the user's unionid, when the app has one")
	return e.withStore(fs, cfgPath, args, func() error {
		if *username == "" || *appid == "" || *openid == "" {
			return usageError("user link-wechat: --username, --appid and --openid are required")
		}
		return nil
	}, func(cfg *config.Config, st *storage.Store) error {
		svc, err := e.accounts(cfg, st)
		if err != nil {
			return err
		}
		err = svc.LinkExisting(e.ctx, *username, wechatgrant.External(*appid, *openid, *unionid))
		switch {
		case errors.Is(err, fosite.ErrNotFound):
			return fmt.Errorf("no user %q", *username)
		case errors.Is(err, storage.ErrUserExists):
			return fmt.Errorf("that WeChat identity is already linked to another user")
		case err != nil:
			return err
		}
		fmt.Fprintf(e.stdout, "linked WeChat openid %s (app %s) to %s\n", *openid, *appid, *username)
		return nil
	})
}
