package cli

// The user commands that change an account's standing: unlock, delete, link-wechat.

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/config"
	wechatgrant "github.com/lingpai/lingpai/grants/wechat"
	"github.com/lingpai/lingpai/internal/upstream/wechat"
	"github.com/lingpai/lingpai/storage"
)

func (e *env) userUnlockCommand() *cobra.Command {
	sel := userSelector{positional: true}
	c := &cobra.Command{
		Use:   "unlock [USERNAME] [--sub S | --username U | --phone P | --email E]",
		Short: "Lift a sign-in lockout (throttle.lockout) and forget the failures counted",
		Args:  cobra.MaximumNArgs(1),
		PreRunE: func(c *cobra.Command, args []string) error {
			return sel.check(c, args)
		},
		RunE: func(*cobra.Command, []string) error {
			return e.withUser(&sel, func(cfg *config.Config, st *storage.Store, u *storage.User) error {
				was, err := e.manage(cfg, st).Unlock(e.ctx, u)
				if err != nil {
					return err
				}
				state := "was not locked"
				if was {
					state = "unlocked"
				}
				fmt.Fprintf(e.stdout, "user %s %s; failed sign-ins forgotten\n", label(u), state)
				return nil
			})
		},
	}
	sel.register(c)
	return c
}

func (e *env) userDeleteCommand() *cobra.Command {
	sel := userSelector{}
	c := &cobra.Command{
		Use:   "delete (--sub S | --username U | --phone P | --email E)",
		Short: "Delete a user with its linked identities, consents, sessions and tokens",
		Args:  noArgs,
		PreRunE: func(c *cobra.Command, args []string) error {
			return sel.check(c, args)
		},
		RunE: func(*cobra.Command, []string) error {
			return e.withUser(&sel, func(cfg *config.Config, st *storage.Store, u *storage.User) error {
				err := e.manage(cfg, st).DeleteUser(e.ctx, u)
				if err != nil {
					return fmt.Errorf("delete user: %w", err)
				}
				fmt.Fprintf(e.stdout, "deleted user %s (sub %s) and its tokens\n", label(u), u.ID)
				return nil
			})
		},
	}
	sel.register(c)
	return c
}

// userLinkWechatCommand links a WeChat identity to an existing user, so their first WeChat
// sign-in lands on that account.
func (e *env) userLinkWechatCommand() *cobra.Command {
	sel := userSelector{}
	var appid, openid, unionid string
	c := &cobra.Command{
		Use:   "link-wechat (--username U | --sub S | --phone P | --email E) --appid A --openid O [--unionid U]",
		Short: "Link a WeChat identity to an existing user",
		Args:  noArgs,
		PreRunE: func(c *cobra.Command, args []string) error {
			if appid == "" || openid == "" {
				return usageError("user link-wechat: --username, --appid and --openid are required")
			}
			return sel.check(c, args)
		},
		RunE: func(*cobra.Command, []string) error {
			return e.inStore(func(cfg *config.Config, st *storage.Store) error {
				if !wechatAppConfigured(cfg, appid) {
					return usageError("user link-wechat: WeChat app %q is not configured (wechat.apps[].appid): its users could never sign in", appid)
				}
				u, err := e.findUser(cfg, st, &sel)
				if err != nil {
					return err
				}
				ext := wechatgrant.External(appid, openid, unionid)
				err = st.Transaction(e.ctx, func(ctx context.Context) error {
					for _, x := range append([]accounts.External{ext}, ext.Also...) {
						if err := st.LinkIdentity(ctx, &storage.Identity{UserID: u.ID, Provider: x.Provider, Subject: x.Subject}); err != nil {
							return err
						}
					}
					return nil
				})
				if errors.Is(err, storage.ErrUserExists) {
					return fmt.Errorf("that WeChat identity is already linked to another user")
				} else if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "linked WeChat openid %s (app %s) to %s\n", openid, appid, label(u))
				return nil
			})
		},
	}
	sel.register(c)
	c.Flags().StringVar(&appid, "appid", "", "WeChat AppID the openid belongs to (required)")
	c.Flags().StringVar(&openid, "openid", "", "the user's openid in that app (required)")
	c.Flags().StringVar(&unionid, "unionid", "", "the user's unionid, when the app has one")
	return c
}

func wechatAppConfigured(cfg *config.Config, appid string) bool {
	if cfg.WeChat == nil {
		return false
	}
	return slices.ContainsFunc(cfg.WeChat.Apps, func(a wechat.App) bool { return a.AppID == appid })
}
