package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/spf13/cobra"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/internal/manage"
	"github.com/lingpai/lingpai/storage"
)

func (e *env) clientCommand() *cobra.Command {
	return group("client", "Register and manage OAuth clients",
		e.clientCreateCommand(), e.clientListCommand(), e.clientShowCommand(), e.clientUpdateCommand(),
		e.clientRotateSecretCommand(), e.clientDeleteCommand())
}

// clientFlags are the settable fields of a client, shared by create and update.
type clientFlags struct {
	name, grantTypes, scopes, redirects, postLogout, audience    string
	corsOrigins, idTokenAlg                                      string
	public, requirePKCE, skipConsent, trustOpenID, canIntrospect bool
}

func (f *clientFlags) register(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.name, "name", "", "display name")
	fl.StringVar(&f.grantTypes, "grant-types", "", "comma-separated grant types")
	fl.StringVar(&f.scopes, "scopes", "", "comma-separated scopes the client may request")
	fl.StringVar(&f.redirects, "redirect-uris", "", "comma-separated redirect URIs (required with authorization_code)")
	fl.StringVar(&f.postLogout, "post-logout-redirect-uris", "", "comma-separated post-logout redirect URIs")
	fl.StringVar(&f.audience, "audience", "", "comma-separated audiences (default: <issuer>/resources)")
	fl.BoolVar(&f.public, "public", false, "public client: no secret (PKCE required for the code flow)")
	fl.BoolVar(&f.requirePKCE, "require-pkce", false, "require PKCE for this client's authorization codes")
	fl.BoolVar(&f.skipConsent, "skip-consent", false, "first-party client: no consent page")
	fl.BoolVar(&f.trustOpenID, "trust-wechat-openid", false, "may assert a WeChat openId without a code (trusted backends only)")
	fl.BoolVar(&f.canIntrospect, "can-introspect", false, "resource server: may introspect any client's access tokens")
	fl.StringVar(&f.corsOrigins, "cors-origins", "", "comma-separated browser origins (scheme://host[:port]) allowed to call the token endpoints")
	fl.StringVar(&f.idTokenAlg, "id-token-alg", "", "id_token_signed_response_alg: RS256 (default) or ES256 (needs tokens.signing_algorithm ES256)")
}

// apply copies the flags given on the command line onto c (all of them for create).
func (f *clientFlags) apply(cmd *cobra.Command, c *storage.Client) {
	set := func(name string) bool { return cmd.Flags().Changed(name) }
	if set("name") {
		c.Name = f.name
	}
	if set("grant-types") {
		c.GrantTypes = splitList(f.grantTypes)
	}
	if set("scopes") {
		c.Scopes = splitList(f.scopes)
	}
	if set("redirect-uris") {
		c.RedirectURIs = splitList(f.redirects)
	}
	if set("post-logout-redirect-uris") {
		c.PostLogoutRedirectURIs = splitList(f.postLogout)
	}
	if set("audience") {
		c.Audience = splitList(f.audience)
	}
	if set("public") {
		c.Public = f.public
	}
	if set("require-pkce") {
		c.RequirePKCE = f.requirePKCE
	}
	if set("skip-consent") {
		c.SkipConsent = f.skipConsent
	}
	if set("trust-wechat-openid") {
		c.TrustWeChatOpenID = f.trustOpenID
	}
	if set("can-introspect") {
		c.CanIntrospect = f.canIntrospect
	}
	if set("cors-origins") {
		c.AllowedCORSOrigins = splitList(f.corsOrigins)
	}
	if set("id-token-alg") {
		c.IDTokenSignedResponseAlg = f.idTokenAlg
	}
	if c.Public {
		c.RequirePKCE = true // a public client cannot keep a secret, so its codes need PKCE
	}
}

// checkClient refuses a client that contradicts itself, so the mistake shows at creation rather
// than as a puzzling invalid_client at the first token request. The rules are internal/manage's,
// the admin API's too; a field they name is reported as its flag.
func checkClient(cfg *config.Config, c *storage.Client) error {
	err := (&manage.Service{Config: cfg}).CheckClient(c)
	var inv *manage.Invalid
	if errors.As(err, &inv) {
		return usageError("%s: %s", clientFlagFor(inv.Field), inv.Detail)
	}
	return err
}

// clientFlagFor names the flag that sets a client field (its JSON name).
func clientFlagFor(field string) string {
	switch field {
	case "client_id":
		return "--id"
	case "allowed_cors_origins":
		return "--cors-origins"
	case "id_token_signed_response_alg":
		return "--id-token-alg"
	case "trust_wechat_openid":
		return "--trust-wechat-openid"
	}
	return "--" + strings.ReplaceAll(field, "_", "-")
}

func (e *env) clientCreateCommand() *cobra.Command {
	var f clientFlags
	var id, secret string
	var secretStdin, admin bool
	c := &cobra.Command{
		Use:   "create --id ID --grant-types a,b [flags]",
		Short: "Register a client; without --secret a 256-bit secret is generated and printed once",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if admin && f.grantTypes == "" {
				f.grantTypes = "client_credentials"
			}
			if id == "" || f.grantTypes == "" {
				return usageError("client create: --id and --grant-types are required")
			}
			if f.public && (secret != "" || secretStdin) {
				return usageError("client create: a --public client has no --secret")
			}
			cl := &storage.Client{ID: id}
			f.apply(cmd, cl)
			if admin {
				// An admin API caller: client_credentials with lingpai:admin (manage.CheckClient
				// refuses the scope beside any other grant type).
				cl.GrantTypes = storage.StringList{"client_credentials"}
				if !slices.Contains(cl.Scopes, manage.ScopeAdmin) {
					cl.Scopes = append(cl.Scopes, manage.ScopeAdmin)
				}
			}
			if cl.Name == "" {
				cl.Name = cl.ID
			}
			return e.inStore(func(cfg *config.Config, st *storage.Store) error {
				if err := checkClient(cfg, cl); err != nil {
					return err
				}
				generated := ""
				if !cl.Public {
					var err error
					if generated, err = e.setSecret(cl, secretSource{"secret", secret, secretStdin}); err != nil {
						return err
					}
				}
				if err := st.CreateClient(e.ctx, cl); err != nil {
					if errors.Is(err, storage.ErrClientExists) {
						return fmt.Errorf("client %q already exists", id)
					}
					return err
				}
				fmt.Fprintf(e.stdout, "client_id=%s\n", cl.ID)
				e.printGenerated(generated)
				return nil
			})
		},
	}
	c.Flags().StringVar(&id, "id", "", "client id (required)")
	c.Flags().StringVar(&secret, "secret", "", "client secret (visible in ps: prefer --secret-stdin); omitted: one is generated")
	c.Flags().BoolVar(&secretStdin, "secret-stdin", false, "read the client secret from standard input")
	c.Flags().BoolVar(&admin, "admin", false, "an admin API client: client_credentials with the scope lingpai:admin (read-only: --grant-types client_credentials --scopes lingpai:admin.read)")
	f.register(c)
	return c
}

// setSecret hashes the secret given (slowly: a person chose it and it may be guessable) or
// generates a 256-bit one (fast hash: nothing to gain from a slow one at that entropy).
func (e *env) setSecret(cl *storage.Client, src secretSource) (generated string, err error) {
	s, err := e.resolve(src, "", false)
	if err != nil {
		return "", err
	}
	if s != "" {
		if err := manage.CheckSecret(src.flagName, s); err != nil {
			return "", usageError("--%v", err)
		}
		cl.SecretHash, err = (hashing.Hasher{}).Hash(e.ctx, []byte(s))
		return "", err
	}
	if generated, err = hashing.GenerateSecret(); err != nil {
		return "", err
	}
	cl.SecretHash = hashing.HashGenerated([]byte(generated))
	return generated, nil
}

func (e *env) printGenerated(secret string) {
	if secret != "" {
		fmt.Fprintf(e.stdout, "client_secret=%s\n", secret)
		fmt.Fprintln(e.stderr, "Store the secret now: it is not shown again.")
	}
}

// clientView is a client as list and show print it; the secret hash itself never leaves.
type clientView struct {
	ID                     string    `json:"client_id"`
	Name                   string    `json:"name"`
	Public                 bool      `json:"public"`
	Secret                 string    `json:"secret"`
	GrantTypes             []string  `json:"grant_types"`
	Scopes                 []string  `json:"scopes"`
	RedirectURIs           []string  `json:"redirect_uris"`
	PostLogoutRedirectURIs []string  `json:"post_logout_redirect_uris"`
	Audience               []string  `json:"audience"`
	RequirePKCE            bool      `json:"require_pkce"`
	SkipConsent            bool      `json:"skip_consent"`
	TrustWeChatOpenID      bool      `json:"trust_wechat_openid"`
	CanIntrospect          bool      `json:"can_introspect"`
	CreatedAt              time.Time `json:"created_at"`
	UpdatedAt              time.Time `json:"updated_at"`
}

func viewClient(c *storage.Client) clientView {
	secret := "none (public)"
	if len(c.SecretHash) > 0 {
		secret = "hashed (slow)"
		if hashing.IsFast(c.SecretHash) {
			secret = "hashed (generated, fast)"
		}
	}
	return clientView{ID: c.ID, Name: c.Name, Public: c.Public, Secret: secret, GrantTypes: nonNil(c.GrantTypes),
		Scopes: nonNil(c.Scopes), RedirectURIs: nonNil(c.RedirectURIs), PostLogoutRedirectURIs: nonNil(c.PostLogoutRedirectURIs),
		Audience: nonNil(c.Audience), RequirePKCE: c.RequirePKCE, SkipConsent: c.SkipConsent,
		TrustWeChatOpenID: c.TrustWeChatOpenID, CanIntrospect: c.CanIntrospect, CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC()}
}

func (e *env) clientListCommand() *cobra.Command {
	var out outputFlag
	c := &cobra.Command{
		Use:   "list",
		Short: "List clients",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			return e.inStore(func(_ *config.Config, st *storage.Store) error {
				list, err := st.ListClients(e.ctx)
				if err != nil {
					return err
				}
				views := make([]clientView, 0, len(list))
				for i := range list {
					views = append(views, viewClient(&list[i]))
				}
				if out.json() {
					return writeJSON(e.stdout, views)
				}
				tw := newTable(e.stdout)
				fmt.Fprintln(tw, "ID\tNAME\tPUBLIC\tGRANT TYPES\tSCOPES")
				for _, c := range views {
					fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", c.ID, c.Name, c.Public, join(c.GrantTypes), join(c.Scopes))
				}
				return tw.Flush()
			})
		},
	}
	out.register(c)
	return c
}

// loadClient reads one client, with "no client" for a wrong id.
func (e *env) loadClient(st *storage.Store, id string) (*storage.Client, error) {
	c, err := st.Client(e.ctx, id)
	if errors.Is(err, fosite.ErrNotFound) {
		return nil, fmt.Errorf("no client %q", id)
	}
	return c, err
}

func (e *env) clientShowCommand() *cobra.Command {
	var out outputFlag
	c := &cobra.Command{
		Use:   "show ID",
		Short: "Show one client",
		Args:  exactArgs(1, "client ID"),
		RunE: func(_ *cobra.Command, args []string) error {
			return e.inStore(func(_ *config.Config, st *storage.Store) error {
				cl, err := e.loadClient(st, args[0])
				if err != nil {
					return err
				}
				v := viewClient(cl)
				if out.json() {
					return writeJSON(e.stdout, v)
				}
				fmt.Fprintf(e.stdout, "id: %s\nname: %s\npublic: %v\nsecret: %s\ngrant_types: %s\nscopes: %s\nredirect_uris: %s\npost_logout_redirect_uris: %s\naudience: %s\nrequire_pkce: %v\nskip_consent: %v\ntrust_wechat_openid: %v\ncan_introspect: %v\ncreated_at: %s\nupdated_at: %s\n",
					v.ID, v.Name, v.Public, v.Secret, join(v.GrantTypes), join(v.Scopes), join(v.RedirectURIs), join(v.PostLogoutRedirectURIs),
					join(v.Audience), v.RequirePKCE, v.SkipConsent, v.TrustWeChatOpenID, v.CanIntrospect, v.CreatedAt.Format(time.RFC3339), v.UpdatedAt.Format(time.RFC3339))
				return nil
			})
		},
	}
	out.register(c)
	return c
}

func (e *env) clientUpdateCommand() *cobra.Command {
	var f clientFlags
	c := &cobra.Command{
		Use:   "update ID [flags]",
		Short: "Change a client: only the flags given change; lists given replace the old ones",
		Args:  exactArgs(1, "client ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().NFlag() == 0 || cmd.Flags().NFlag() == 1 && cmd.Flags().Changed("config") {
				return usageError("client update: nothing to change (give at least one flag)")
			}
			return e.inStore(func(cfg *config.Config, st *storage.Store) error {
				cl, err := e.loadClient(st, args[0])
				if err != nil {
					return err
				}
				wasPublic := cl.Public
				f.apply(cmd, cl)
				if err := checkClient(cfg, cl); err != nil {
					return err
				}
				generated := ""
				switch {
				case cl.Public:
					cl.SecretHash = nil
				case wasPublic:
					// A public client made confidential needs a secret before it can authenticate.
					if generated, err = e.setSecret(cl, secretSource{flagName: "secret"}); err != nil {
						return err
					}
				}
				if err := st.UpdateClient(e.ctx, cl); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "updated client %s\n", cl.ID)
				e.printGenerated(generated)
				return nil
			})
		},
	}
	f.register(c)
	return c
}

func (e *env) clientRotateSecretCommand() *cobra.Command {
	var secret string
	var secretStdin bool
	c := &cobra.Command{
		Use:   "rotate-secret ID",
		Short: "Replace a confidential client's secret (generated and printed once unless given)",
		Long: `Replace a confidential client's secret. The old secret stops working at once (after
server.cache_ttl on replicas that cached the client), so deploy the new one to the client first
when it can hold two, or accept a short outage.`,
		Args: exactArgs(1, "client ID"),
		RunE: func(_ *cobra.Command, args []string) error {
			return e.inStore(func(_ *config.Config, st *storage.Store) error {
				cl, err := e.loadClient(st, args[0])
				if err != nil {
					return err
				}
				if cl.Public {
					return fmt.Errorf("client %q is public: it has no secret", cl.ID)
				}
				generated, err := e.setSecret(cl, secretSource{"secret", secret, secretStdin})
				if err != nil {
					return err
				}
				if err := st.UpdateClient(e.ctx, cl); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "client_id=%s\n", cl.ID)
				e.printGenerated(generated)
				return nil
			})
		},
	}
	c.Flags().StringVar(&secret, "secret", "", "the new secret (visible in ps: prefer --secret-stdin); omitted: one is generated")
	c.Flags().BoolVar(&secretStdin, "secret-stdin", false, "read the new secret from standard input")
	return c
}

func (e *env) clientDeleteCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a client and every token issued to it",
		Args:  exactArgs(1, "client ID"),
		RunE: func(_ *cobra.Command, args []string) error {
			return e.inStore(func(_ *config.Config, st *storage.Store) error {
				if err := st.DeleteClient(e.ctx, args[0]); errors.Is(err, fosite.ErrNotFound) {
					return fmt.Errorf("no client %q", args[0])
				} else if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "deleted client %s and its tokens\n", args[0])
				return nil
			})
		},
	}
}
