package cli

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/internal/keys"
	"github.com/lingpai/lingpai/internal/throttle"
	"github.com/lingpai/lingpai/storage"
)

func (e *env) clientCreate(args []string) error {
	fs, cfgPath := e.flags("client create")
	id := fs.String("id", "", "client id (required)")
	secret := fs.String("secret", "", "client secret; omitted: a 256-bit secret is generated and printed once")
	name := fs.String("name", "", "display name")
	grantTypes := fs.String("grant-types", "", "comma-separated grant types (required)")
	scopes := fs.String("scopes", "", "comma-separated scopes the client may request")
	redirects := fs.String("redirect-uris", "", "comma-separated redirect URIs (authorization_code)")
	postLogout := fs.String("post-logout-redirect-uris", "", "comma-separated post-logout redirect URIs")
	audience := fs.String("audience", "", "comma-separated audiences (default: <issuer>/resources)")
	public := fs.Bool("public", false, "public client: no secret (PKCE required for the code flow)")
	requirePKCE := fs.Bool("require-pkce", false, "require PKCE for this client's authorization codes")
	skipConsent := fs.Bool("skip-consent", false, "first-party client: no consent page")
	trustOpenID := fs.Bool("trust-wechat-openid", false, "may assert a WeChat openId without a code (trusted backends only)")
	canIntrospect := fs.Bool("can-introspect", false, "resource server: may introspect any client's access tokens")
	return e.withStore(fs, cfgPath, args, func() error {
		if *id == "" || *grantTypes == "" {
			return usageError("client create: --id and --grant-types are required")
		}
		if *public && *secret != "" {
			return usageError("client create: a --public client has no --secret")
		}
		if *public && *trustOpenID {
			return usageError("client create: --trust-wechat-openid needs a confidential client")
		}
		if *public && *canIntrospect {
			return usageError("client create: --can-introspect needs a confidential client")
		}
		return nil
	}, func(cfg *config.Config, st *storage.Store) error {
		gts := splitList(*grantTypes)
		for _, g := range gts {
			if !knownGrant(cfg, g) {
				return fmt.Errorf("client create: --grant-types: unknown grant type %q", g)
			}
		}
		c := &storage.Client{
			ID: *id, Name: *name, Public: *public, GrantTypes: gts, Scopes: splitList(*scopes),
			RedirectURIs: splitList(*redirects), PostLogoutRedirectURIs: splitList(*postLogout), Audience: splitList(*audience),
			RequirePKCE: *requirePKCE || *public, SkipConsent: *skipConsent, TrustWeChatOpenID: *trustOpenID,
			CanIntrospect: *canIntrospect,
		}
		if c.Name == "" {
			c.Name = c.ID
		}
		generated, err := "", error(nil)
		switch {
		case *public:
		case *secret != "":
			// A secret a person chose may be guessable: slow hash.
			if c.SecretHash, err = (hashing.Hasher{}).Hash(e.ctx, []byte(*secret)); err != nil {
				return err
			}
		default:
			if generated, err = hashing.GenerateSecret(); err != nil {
				return err
			}
			c.SecretHash = hashing.HashGenerated([]byte(generated))
		}
		if err := st.CreateClient(e.ctx, c); err != nil {
			if errors.Is(err, storage.ErrClientExists) {
				return fmt.Errorf("client %q already exists", *id)
			}
			return err
		}
		fmt.Fprintf(e.stdout, "client_id=%s\n", c.ID)
		if generated != "" {
			fmt.Fprintf(e.stdout, "client_secret=%s\n", generated)
			fmt.Fprintln(e.stderr, "Store the secret now: it is not shown again.")
		}
		return nil
	})
}

func knownGrant(cfg *config.Config, g string) bool {
	switch g {
	case "authorization_code", "client_credentials", "password", "refresh_token", "password_ad", "sms", "wechat":
		return true
	}
	return cfg.GrantEnabled(g)
}

func (e *env) clientList(args []string) error {
	fs, cfgPath := e.flags("client list")
	return e.withStore(fs, cfgPath, args, nil, func(_ *config.Config, st *storage.Store) error {
		list, err := st.ListClients(e.ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tPUBLIC\tGRANT TYPES\tSCOPES")
		for _, c := range list {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", c.ID, c.Name, c.Public, join(c.GrantTypes), join(c.Scopes))
		}
		return tw.Flush()
	})
}

func join(l []string) string {
	if len(l) == 0 {
		return "-"
	}
	out := l[0]
	for _, s := range l[1:] {
		out += "," + s
	}
	return out
}

func (e *env) clientShow(args []string) error {
	fs, cfgPath := e.flags("client show")
	return e.withStore(fs, cfgPath, args, func() error {
		if fs.NArg() != 1 {
			return usageError("client show ID")
		}
		return nil
	}, func(_ *config.Config, st *storage.Store) error {
		c, err := st.Client(e.ctx, fs.Arg(0))
		if errors.Is(err, fosite.ErrNotFound) {
			return fmt.Errorf("no client %q", fs.Arg(0))
		}
		if err != nil {
			return err
		}
		secret := "none (public)"
		if len(c.SecretHash) > 0 {
			secret = "hashed (slow)"
			if hashing.IsFast(c.SecretHash) {
				secret = "hashed (generated, fast)"
			}
		}
		fmt.Fprintf(e.stdout, "id: %s\nname: %s\npublic: %v\nsecret: %s\ngrant_types: %s\nscopes: %s\nredirect_uris: %s\npost_logout_redirect_uris: %s\naudience: %s\nrequire_pkce: %v\nskip_consent: %v\ntrust_wechat_openid: %v\ncan_introspect: %v\ncreated_at: %s\n",
			c.ID, c.Name, c.Public, secret, join(c.GrantTypes), join(c.Scopes), join(c.RedirectURIs), join(c.PostLogoutRedirectURIs),
			join(c.Audience), c.RequirePKCE, c.SkipConsent, c.TrustWeChatOpenID, c.CanIntrospect, c.CreatedAt.Format(time.RFC3339))
		return nil
	})
}

func (e *env) clientDelete(args []string) error {
	fs, cfgPath := e.flags("client delete")
	return e.withStore(fs, cfgPath, args, func() error {
		if fs.NArg() != 1 {
			return usageError("client delete ID")
		}
		return nil
	}, func(_ *config.Config, st *storage.Store) error {
		if err := st.DeleteClient(e.ctx, fs.Arg(0)); errors.Is(err, fosite.ErrNotFound) {
			return fmt.Errorf("no client %q", fs.Arg(0))
		} else if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "deleted client %s and its tokens\n", fs.Arg(0))
		return nil
	})
}

func (e *env) accounts(cfg *config.Config, st *storage.Store) (*accounts.Service, error) {
	reg := throttle.New(st, throttle.Options{MaxFailures: cfg.Throttle.MaxFailures, IPMaxFailures: cfg.Throttle.IPMaxFailures,
		Window: cfg.Throttle.Window, Lockout: cfg.Throttle.Lockout}, nil)
	return accounts.New(st, hashing.Hasher{}, reg, newLogger(e.stderr, cfg))
}

func (e *env) userCreate(args []string) error {
	fs, cfgPath := e.flags("user create")
	username := fs.String("username", "", "username (required)")
	password := fs.String("password", "", "password, at least 8 characters")
	phone := fs.String("phone", "", "phone number, e.g. +8613800138000")
	email := fs.String("email", "", "e-mail address")
	name := fs.String("name", "", "display name")
	return e.withStore(fs, cfgPath, args, func() error {
		if *username == "" {
			return usageError("user create: --username is required")
		}
		return nil
	}, func(cfg *config.Config, st *storage.Store) error {
		svc, err := e.accounts(cfg, st)
		if err != nil {
			return err
		}
		region := "CN"
		if cfg.SMS != nil {
			region = cfg.SMS.DefaultRegion
		}
		p, err := normalizePhone(*phone, region)
		if err != nil {
			return fmt.Errorf("user create: --phone: %w", err)
		}
		u, err := svc.CreateUser(e.ctx, accounts.NewUser{Username: *username, Password: *password, Phone: p, Email: *email, Name: *name})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "created user %s (sub %s)\n", *u.Username, u.ID)
		return nil
	})
}

func (e *env) userSetPassword(args []string) error {
	fs, cfgPath := e.flags("user set-password")
	username := fs.String("username", "", "username (required)")
	password := fs.String("password", "", "new password (required)")
	return e.withStore(fs, cfgPath, args, func() error {
		if *username == "" || *password == "" {
			return usageError("user set-password: --username and --password are required")
		}
		return nil
	}, func(cfg *config.Config, st *storage.Store) error {
		svc, err := e.accounts(cfg, st)
		if err != nil {
			return err
		}
		if err := svc.SetPassword(e.ctx, *username, *password); errors.Is(err, fosite.ErrNotFound) {
			return fmt.Errorf("no user %q", *username)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "password changed for %s\n", accounts.NormalizeUsername(*username))
		return nil
	})
}

func (e *env) userDisable(disable bool) func([]string) error {
	return func(args []string) error {
		verb := map[bool]string{true: "disable", false: "enable"}[disable]
		fs, cfgPath := e.flags("user " + verb)
		username := fs.String("username", "", "username (required)")
		return e.withStore(fs, cfgPath, args, func() error {
			if *username == "" && fs.NArg() == 1 {
				*username = fs.Arg(0)
			}
			if *username == "" {
				return usageError("user %s: --username is required", verb)
			}
			return nil
		}, func(cfg *config.Config, st *storage.Store) error {
			svc, err := e.accounts(cfg, st)
			if err != nil {
				return err
			}
			if err := svc.SetDisabled(e.ctx, *username, disable); errors.Is(err, fosite.ErrNotFound) {
				return fmt.Errorf("no user %q", *username)
			} else if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%sd user %s\n", verb, accounts.NormalizeUsername(*username))
			return nil
		})
	}
}

func (e *env) userList(args []string) error {
	fs, cfgPath := e.flags("user list")
	return e.withStore(fs, cfgPath, args, nil, func(_ *config.Config, st *storage.Store) error {
		users, err := st.ListUsers(e.ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tSUB\tPHONE\tEMAIL\tDISABLED")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", deref(u.Username), u.ID, deref(u.Phone), dash(u.Email), u.Disabled)
		}
		return tw.Flush()
	})
}

func deref(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (e *env) keysList(args []string) error {
	fs, cfgPath := e.flags("keys list")
	return e.withStore(fs, cfgPath, args, nil, func(_ *config.Config, st *storage.Store) error {
		list, err := st.SigningKeys(e.ctx, time.Time{})
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KID\tALG\tCREATED\tSTATUS")
		for i, k := range list {
			status := "retired " + func() string {
				if k.RetiredAt == nil {
					return ""
				}
				return k.RetiredAt.Format(time.RFC3339)
			}()
			if k.RetiredAt == nil && i == 0 {
				status = "active"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.KID, k.Algorithm, k.CreatedAt.Format(time.RFC3339), status)
		}
		return tw.Flush()
	})
}

func (e *env) keysRotate(args []string) error {
	fs, cfgPath := e.flags("keys rotate")
	return e.withStore(fs, cfgPath, args, nil, func(cfg *config.Config, st *storage.Store) error {
		k, err := keys.Rotate(e.ctx, st, cfg.Tokens.SigningAlgorithm)
		if err != nil {
			return err
		}
		// The audit event: kid and algorithm only, never key material.
		newLogger(e.stderr, cfg).Info("signing key rotated", "event", "key.rotated", "kid", k.KID, "alg", k.Algorithm)
		fmt.Fprintf(e.stdout, "new active key kid=%s alg=%s; older keys stay published until their tokens expire\n", k.KID, k.Algorithm)
		return nil
	})
}

// keysReencrypt seals every private signing key and system secret under the first of
// security.secrets: plaintext rows from before encryption, and rows under a secret being retired.
func (e *env) keysReencrypt(args []string) error {
	fs, cfgPath := e.flags("keys reencrypt")
	return e.withStore(fs, cfgPath, args, nil, func(cfg *config.Config, st *storage.Store) error {
		n, err := st.Reencrypt(e.ctx)
		if err != nil {
			return err
		}
		newLogger(e.stderr, cfg).Info("key material re-encrypted", "event", "key.reencrypted", "rows", n)
		fmt.Fprintf(e.stdout, "re-encrypted %d rows under the first security.secrets entry\n", n)
		return nil
	})
}
