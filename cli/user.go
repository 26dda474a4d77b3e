package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/ory/fosite"
	"github.com/spf13/cobra"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/internal/manage"
	"github.com/lingpai/lingpai/internal/throttle"
	"github.com/lingpai/lingpai/storage"
)

func (e *env) userCommand() *cobra.Command {
	return group("user", "Create and manage users",
		e.userCreateCommand(), e.userListCommand(), e.userShowCommand(), e.userUpdateCommand(),
		e.userSetPasswordCommand(), e.userDisableCommand(true), e.userDisableCommand(false),
		e.userUnlockCommand(), e.userDeleteCommand(), e.userLinkWechatCommand())
}

func (e *env) accounts(cfg *config.Config, st *storage.Store) (*accounts.Service, error) {
	reg := throttle.New(st, throttle.Options{MaxFailures: cfg.Throttle.MaxFailures, IPMaxFailures: cfg.Throttle.IPMaxFailures,
		Window: cfg.Throttle.Window, Lockout: cfg.Throttle.Lockout}, nil)
	return accounts.New(st, hashing.Hasher{}, reg, newLogger(e.stderr, cfg))
}

// manage is the service layer the admin API uses too: one copy of the rules.
func (e *env) manage(cfg *config.Config, st *storage.Store) *manage.Service {
	return &manage.Service{Store: st, Config: cfg}
}

func phoneRegion(cfg *config.Config) string {
	if cfg.SMS != nil && cfg.SMS.DefaultRegion != "" {
		return cfg.SMS.DefaultRegion
	}
	return "CN"
}

// userSelector addresses one user by exactly one of --sub, --username, --phone or --email: users
// that came through SMS, WeChat or a directory may have no username.
type userSelector struct {
	sub, username, phone, email string
	positional                  bool // the command also takes the username as its argument
}

func (s *userSelector) register(c *cobra.Command) {
	c.Flags().StringVar(&s.sub, "sub", "", "the user's subject (sub claim)")
	c.Flags().StringVar(&s.username, "username", "", "the user's username")
	c.Flags().StringVar(&s.phone, "phone", "", "the user's phone number, e.g. +8613800138000")
	c.Flags().StringVar(&s.email, "email", "", "the user's e-mail address (when only one user has it)")
}

// check runs before the database is opened so a usage error never waits for it.
func (s *userSelector) check(c *cobra.Command, args []string) error {
	if len(args) == 1 && s.positional {
		if s.username != "" {
			return usageError("%s: give the username as an argument or as --username, not both", c.CommandPath())
		}
		s.username = args[0]
	}
	n := 0
	for _, v := range []string{s.sub, s.username, s.phone, s.email} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return usageError("%s: name the user with exactly one of --sub, --username, --phone or --email", c.CommandPath())
	}
	return nil
}

func (s *userSelector) String() string {
	switch {
	case s.sub != "":
		return "sub " + s.sub
	case s.username != "":
		return "username " + accounts.NormalizeUsername(s.username)
	case s.phone != "":
		return "phone " + s.phone
	}
	return "e-mail " + s.email
}

func (e *env) findUser(cfg *config.Config, st *storage.Store, s *userSelector) (*storage.User, error) {
	var u *storage.User
	var err error
	switch {
	case s.sub != "":
		u, err = st.UserByID(e.ctx, s.sub)
	case s.username != "":
		u, err = st.UserByUsername(e.ctx, accounts.NormalizeUsername(s.username))
	case s.phone != "":
		p, perr := normalizePhone(s.phone, phoneRegion(cfg))
		if perr != nil {
			return nil, usageError("--phone: %v", perr)
		}
		u, err = st.UserByPhone(e.ctx, p)
	default:
		// E-mail is not unique (two accounts of one person may share it), so ask for one match.
		var list []storage.User
		if err := st.DB(e.ctx).Where("email = ?", s.email).Limit(2).Find(&list).Error; err != nil {
			return nil, fmt.Errorf("find user by e-mail: %w", err)
		}
		switch len(list) {
		case 0:
			err = fosite.ErrNotFound
		case 1:
			u = &list[0]
		default:
			return nil, fmt.Errorf("several users have e-mail %s: use --sub", s.email)
		}
	}
	if errors.Is(err, fosite.ErrNotFound) {
		return nil, fmt.Errorf("no user with %s", s)
	}
	return u, err
}

// withUser opens the store, finds the user sel names and runs fn with them: the frame of every
// command about one user.
func (e *env) withUser(sel *userSelector, fn func(cfg *config.Config, st *storage.Store, u *storage.User) error) error {
	return e.inStore(func(cfg *config.Config, st *storage.Store) error {
		u, err := e.findUser(cfg, st, sel)
		if err != nil {
			return err
		}
		return fn(cfg, st, u)
	})
}

// label names a user in messages: the username, or the subject when there is none.
func label(u *storage.User) string {
	if u.Username != nil {
		return *u.Username
	}
	return "sub " + u.ID
}

func (e *env) userCreateCommand() *cobra.Command {
	var username, password, phone, email, name string
	var passwordStdin bool
	c := &cobra.Command{
		Use:   "create --username U (--password-stdin | --password P | --phone P) [flags]",
		Short: "Create a local user",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			if username == "" {
				return usageError("user create: --username is required")
			}
			pw, err := e.resolve(secretSource{"password", password, passwordStdin}, promptIf(phone == "", "Password for "+username), true)
			if err != nil {
				return err
			}
			if pw == "" && phone == "" {
				return usageError("user create: the user would have no way to sign in: give --password-stdin, --password or --phone")
			}
			return e.inStore(func(cfg *config.Config, st *storage.Store) error {
				svc, err := e.accounts(cfg, st)
				if err != nil {
					return err
				}
				p, err := normalizePhone(phone, phoneRegion(cfg))
				if err != nil {
					return usageError("user create: --phone: %v", err)
				}
				u, err := svc.CreateUser(e.ctx, accounts.NewUser{Username: username, Password: pw, Phone: p, Email: email, Name: name})
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "created user %s (sub %s)\n", *u.Username, u.ID)
				return nil
			})
		},
	}
	c.Flags().StringVar(&username, "username", "", "username (required)")
	c.Flags().StringVar(&password, "password", "", "password, at least 8 characters (visible in ps: prefer --password-stdin)")
	c.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
	c.Flags().StringVar(&phone, "phone", "", "phone number, e.g. +8613800138000 (signs in with SMS codes)")
	c.Flags().StringVar(&email, "email", "", "e-mail address")
	c.Flags().StringVar(&name, "name", "", "display name")
	return c
}

func promptIf(cond bool, prompt string) string {
	if cond {
		return prompt
	}
	return ""
}

// userView is a user as list and show print it; the password hash itself never leaves.
type userView struct {
	Sub           string         `json:"sub"`
	Username      *string        `json:"username"`
	Name          string         `json:"name"`
	Email         string         `json:"email"`
	EmailVerified bool           `json:"email_verified"`
	Phone         *string        `json:"phone_number"`
	PhoneVerified bool           `json:"phone_number_verified"`
	HasPassword   bool           `json:"has_password"`
	Disabled      bool           `json:"disabled"`
	CreatedAt     time.Time      `json:"created_at"`
	UpdatedAt     time.Time      `json:"updated_at"`
	Identities    []identityView `json:"identities,omitempty"`
	LockedUntil   *time.Time     `json:"locked_until,omitempty"`
}

type identityView struct {
	Provider string `json:"provider"`
	Subject  string `json:"subject"`
}

func viewUser(u *storage.User) userView {
	return userView{Sub: u.ID, Username: u.Username, Name: u.Name, Email: u.Email, EmailVerified: u.EmailVerified,
		Phone: u.Phone, PhoneVerified: u.PhoneVerified, HasPassword: len(u.PasswordHash) > 0, Disabled: u.Disabled,
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC()}
}

func (e *env) userListCommand() *cobra.Command {
	var out outputFlag
	c := &cobra.Command{
		Use:   "list",
		Short: "List users",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			return e.inStore(func(_ *config.Config, st *storage.Store) error {
				users, err := st.ListUsers(e.ctx)
				if err != nil {
					return err
				}
				views := make([]userView, 0, len(users))
				for i := range users {
					views = append(views, viewUser(&users[i]))
				}
				if out.json() {
					return writeJSON(e.stdout, views)
				}
				tw := newTable(e.stdout)
				fmt.Fprintln(tw, "USERNAME\tSUB\tPHONE\tEMAIL\tDISABLED")
				for _, u := range views {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", deref(u.Username), u.Sub, deref(u.Phone), dash(u.Email), u.Disabled)
				}
				return tw.Flush()
			})
		},
	}
	out.register(c)
	return c
}

func (e *env) userShowCommand() *cobra.Command {
	var out outputFlag
	sel := userSelector{positional: true}
	c := &cobra.Command{
		Use:   "show [USERNAME] [--sub S | --username U | --phone P | --email E]",
		Short: "Show one user, its linked identities and whether sign-in is locked",
		Args:  cobra.MaximumNArgs(1),
		PreRunE: func(c *cobra.Command, args []string) error {
			return sel.check(c, args)
		},
		RunE: func(*cobra.Command, []string) error {
			return e.withUser(&sel, func(cfg *config.Config, st *storage.Store, u *storage.User) error {
				v := viewUser(u)
				ids, err := st.IdentitiesOf(e.ctx, u.ID)
				if err != nil {
					return err
				}
				for _, id := range ids {
					v.Identities = append(v.Identities, identityView{Provider: id.Provider, Subject: id.Subject})
				}
				if v.LockedUntil, err = e.manage(cfg, st).LockedUntil(e.ctx, u); err != nil {
					return fmt.Errorf("read sign-in locks: %w", err)
				}
				if out.json() {
					return writeJSON(e.stdout, v)
				}
				locked := "no"
				if v.LockedUntil != nil {
					locked = "until " + v.LockedUntil.Format(time.RFC3339) + " (lingpai user unlock)"
				}
				fmt.Fprintf(e.stdout, "sub: %s\nusername: %s\nname: %s\nemail: %s\nemail_verified: %v\nphone_number: %s\nphone_number_verified: %v\npassword: %v\ndisabled: %v\nlocked: %s\ncreated_at: %s\nupdated_at: %s\n",
					v.Sub, deref(v.Username), dash(v.Name), dash(v.Email), v.EmailVerified, deref(v.Phone), v.PhoneVerified,
					map[bool]string{true: "set", false: "none"}[v.HasPassword], v.Disabled, locked,
					v.CreatedAt.Format(time.RFC3339), v.UpdatedAt.Format(time.RFC3339))
				for _, id := range v.Identities {
					fmt.Fprintf(e.stdout, "identity: %s %s\n", id.Provider, id.Subject)
				}
				return nil
			})
		},
	}
	sel.register(c)
	out.register(c)
	return c
}

func (e *env) userUpdateCommand() *cobra.Command {
	sel := userSelector{}
	var name, newUsername, newPhone, newEmail string
	var emailVerified bool
	c := &cobra.Command{
		Use:   "update (--sub S | --username U | --phone P | --email E) [--name N] [--new-username U] [--new-phone P] [--new-email E]",
		Short: "Change a user's profile; only the flags given change",
		Args:  noArgs,
		PreRunE: func(c *cobra.Command, args []string) error {
			if err := sel.check(c, args); err != nil {
				return err
			}
			for _, f := range []string{"name", "new-username", "new-phone", "new-email", "email-verified"} {
				if c.Flags().Changed(f) {
					return nil
				}
			}
			return usageError("user update: nothing to change (give --name, --new-username, --new-phone, --new-email or --email-verified)")
		},
		RunE: func(c *cobra.Command, _ []string) error {
			return e.inStore(func(cfg *config.Config, st *storage.Store) error {
				u, err := e.findUser(cfg, st, &sel)
				if err != nil {
					return err
				}
				set := c.Flags().Changed
				if set("name") {
					u.Name = name
				}
				if set("new-username") {
					if n := accounts.NormalizeUsername(newUsername); n == "" {
						u.Username = nil
					} else {
						u.Username = &n
					}
				}
				if set("new-phone") {
					p, err := normalizePhone(newPhone, phoneRegion(cfg))
					if err != nil {
						return usageError("--new-phone: %v", err)
					}
					if p == "" {
						u.Phone, u.PhoneVerified = nil, false
					} else {
						// An administrator typing the number is the verification.
						u.Phone, u.PhoneVerified = &p, true
					}
				}
				if set("new-email") {
					u.Email, u.EmailVerified = newEmail, false
				}
				if set("email-verified") {
					u.EmailVerified = emailVerified
				}
				if len(u.PasswordHash) == 0 && u.Phone == nil && !e.hasIdentity(st, u) {
					return usageError("user update: the user would have no way to sign in")
				}
				if err := st.SaveUser(e.ctx, u); errors.Is(err, storage.ErrUserExists) {
					return fmt.Errorf("that username or phone is already in use")
				} else if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "updated user %s\n", label(u))
				return nil
			})
		},
	}
	sel.register(c)
	c.Flags().StringVar(&name, "name", "", "new display name")
	c.Flags().StringVar(&newUsername, "new-username", "", "new username (\"\" removes it)")
	c.Flags().StringVar(&newPhone, "new-phone", "", "new phone number (\"\" removes it)")
	c.Flags().StringVar(&newEmail, "new-email", "", "new e-mail address (marked unverified)")
	c.Flags().BoolVar(&emailVerified, "email-verified", false, "mark the e-mail address verified")
	return c
}

func (e *env) hasIdentity(st *storage.Store, u *storage.User) bool {
	ids, err := st.IdentitiesOf(e.ctx, u.ID)
	return err == nil && len(ids) > 0
}

func (e *env) userSetPasswordCommand() *cobra.Command {
	sel := userSelector{}
	var password string
	var passwordStdin bool
	c := &cobra.Command{
		Use:   "set-password (--username U | --sub S | --phone P | --email E) [--password-stdin]",
		Short: "Replace a user's password (prompted without echo on a terminal)",
		Args:  noArgs,
		PreRunE: func(c *cobra.Command, args []string) error {
			return sel.check(c, args)
		},
		RunE: func(*cobra.Command, []string) error {
			pw, err := e.resolve(secretSource{"password", password, passwordStdin}, "New password for "+sel.String(), true)
			if err != nil {
				return err
			}
			if pw == "" {
				return usageError("user set-password: give --password-stdin or --password (or run it on a terminal to be prompted)")
			}
			return e.inStore(func(cfg *config.Config, st *storage.Store) error {
				u, err := e.findUser(cfg, st, &sel)
				if err != nil {
					return err
				}
				svc, err := e.accounts(cfg, st)
				if err != nil {
					return err
				}
				if u.PasswordHash, err = svc.HashPassword(e.ctx, pw); err != nil {
					return err
				}
				if err := st.SaveUser(e.ctx, u); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "password changed for %s\n", label(u))
				return nil
			})
		},
	}
	sel.register(c)
	c.Flags().StringVar(&password, "password", "", "new password (visible in ps: prefer --password-stdin)")
	c.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the new password from standard input")
	return c
}

func (e *env) userDisableCommand(disable bool) *cobra.Command {
	verb := map[bool]string{true: "disable", false: "enable"}[disable]
	sel := userSelector{positional: true}
	c := &cobra.Command{
		Use:   verb + " [USERNAME] [--sub S | --username U | --phone P | --email E]",
		Short: map[bool]string{true: "Disable a user: no new sign-ins, refresh tokens stop working", false: "Re-enable a disabled user"}[disable],
		Args:  cobra.MaximumNArgs(1),
		PreRunE: func(c *cobra.Command, args []string) error {
			return sel.check(c, args)
		},
		RunE: func(*cobra.Command, []string) error {
			return e.withUser(&sel, func(cfg *config.Config, st *storage.Store, u *storage.User) error {
				u.Disabled = disable
				if err := st.SaveUser(e.ctx, u); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%sd user %s\n", verb, label(u))
				return nil
			})
		},
	}
	sel.register(c)
	return c
}
