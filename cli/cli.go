// Package cli is the lingpai command: serve, migrate and the admin subcommands. It lives outside
// cmd/ so a team can build its own binary that registers extra grants:
//
//	cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, server.WithGrant(pin.Grant{}))
//
// The command tree is built on github.com/spf13/cobra. Why cobra rather than kong or urfave/cli:
// it is the de-facto standard for Go operator tools (kubectl, hydra, helm, docker's CLI), so
// operators already know its help layout, "-h" on every group and command, "completion" for every
// shell and its usage errors; it parses flags before or after arguments (pflag) and can generate
// the reference (docs/cli.md). kong is smaller and neater to declare, but less familiar to the
// people who run lingpai, and urfave/cli's flag placement rules surprise scripts.
//
// Command and flag names are a contract with operators' scripts: add, never rename. Go's flag
// package accepted single-dash long flags (-config), so they are still accepted (see legacyArgs).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/reqctx"
	"github.com/lingpai/lingpai/internal/tracing"
	"github.com/lingpai/lingpai/server"
)

// Exit codes: 0 success, 1 the command ran and failed, 2 the command line was wrong.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// env carries what every command needs; tests build their own with other readers and writers.
type env struct {
	ctx     context.Context
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	opts    []server.Option
	environ []string
	// terminal, when stdin is a terminal, reads one line without echo (secrets typed at a prompt);
	// nil otherwise, so a secret is never read from a pipe unless --*-stdin asks for it.
	terminal func() ([]byte, error)
	// cfgPath is the --config flag, shared by every command.
	cfgPath string
	// migrations replaces the embedded migrations (tests add versions); nil in production.
	migrations fs.FS
}

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, opts ...server.Option) int {
	e := &env{ctx: ctx, stdin: os.Stdin, stdout: stdout, stderr: stderr, opts: opts, environ: os.Environ()}
	if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
		e.terminal = func() ([]byte, error) { return term.ReadPassword(fd) }
	}
	return e.run(args)
}

// run executes args and maps the outcome to an exit code: an error a command's RunE returned is a
// failure (1) unless it is a usageErr; every error cobra itself raises (unknown command or flag,
// wrong argument count, bad flag value) is a usage error (2).
func (e *env) run(args []string) int { return e.execute(e.rootCommand(), args) }

func (e *env) execute(root *cobra.Command, args []string) int {
	wrapRunErrors(root)
	root.SetArgs(legacyArgs(root, args))
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	var re *runErr
	if errors.As(err, &re) {
		fmt.Fprintln(e.stderr, prefixed(re.err.Error()))
		return exitFail
	}
	msg := err.Error()
	fmt.Fprintln(e.stderr, prefixed(strings.TrimSpace(msg)))
	if !strings.Contains(msg, "--help' for usage") {
		fmt.Fprintf(e.stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return exitUsage
}

// prefixed starts a message with "lingpai:" unless it already names the command.
func prefixed(msg string) string {
	if strings.HasPrefix(msg, "lingpai ") {
		return msg
	}
	return "lingpai: " + msg
}

// usageErr is a command line the command cannot act on: exit code 2.
type usageErr struct{ msg string }

func (u *usageErr) Error() string { return u.msg }

func usageError(format string, args ...any) error { return &usageErr{fmt.Sprintf(format, args...)} }

// runErr marks an error returned by a command's own work (exit 1), as opposed to one cobra raised
// while parsing the command line.
type runErr struct{ err error }

func (r *runErr) Error() string { return r.err.Error() }
func (r *runErr) Unwrap() error { return r.err }

func wrapRunErrors(c *cobra.Command) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			err := run(cmd, args)
			var ue *usageErr
			if err == nil || errors.As(err, &ue) {
				return err
			}
			return &runErr{err}
		}
	}
	for _, sub := range c.Commands() {
		wrapRunErrors(sub)
	}
}

func (e *env) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "lingpai",
		Short: "OAuth 2.0 / OpenID Connect token server",
		Long: `lingpai — OAuth 2.0 / OpenID Connect token server.

Every command takes --config FILE (default ./config.yaml; LINGPAI_* environment variables override
its keys) and says on stderr which configuration file and database it uses.
Exit codes: 0 success, 1 the command failed, 2 the command line is wrong.`,
		Version:       buildVersion().String(),
		SilenceErrors: true,
		SilenceUsage:  true,
		// Args stays nil so cobra reports "unknown command" (with suggestions) for a stray word;
		// "lingpai" alone prints the usage on stderr and exits 2.
		RunE: func(c *cobra.Command, args []string) error {
			c.SetOut(e.stderr)
			_ = c.Usage()
			return usageError("missing command")
		},
	}
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetVersionTemplate("lingpai {{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError("%s", err) })
	root.PersistentFlags().StringVar(&e.cfgPath, "config", "", "configuration file (default ./config.yaml)")
	root.CompletionOptions.HiddenDefaultCmd = false
	root.AddCommand(
		e.serveCommand(),
		e.migrateCommand(),
		e.clientCommand(),
		e.userCommand(),
		e.keysCommand(),
		e.gcCommand(),
		group("import", "Import from another server", e.flagCommand("identityserver4", "Import IdentityServer4 clients, users, live refresh tokens and consents", e.importIS4)),
		e.healthcheckCommand(),
		e.versionCommand(),
	)
	return root
}

// group is a command whose only job is to hold subcommands. Without a RunE cobra would print help
// and exit 0 for "lingpai client frob"; here a missing or unknown subcommand is a usage error.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{
		Use:   use,
		Short: short,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				c.SetOut(c.ErrOrStderr())
				_ = c.Usage()
				return usageError("%s: missing subcommand", c.CommandPath())
			}
			msg := fmt.Sprintf("%s: unknown subcommand %q", c.CommandPath(), args[0])
			if s := c.SuggestionsFor(args[0]); len(s) > 0 {
				msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, ", "))
			}
			return usageError("%s", msg)
		},
	}
	g.AddCommand(subs...)
	return g
}

// noArgs and exactArgs are cobra's validators with usage errors that name the stray word: the
// flag package stopped parsing at one and ignored every flag after it.
func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError("%s: unexpected argument %q", c.CommandPath(), args[0])
	}
	return nil
}

func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) < n {
			return usageError("%s: missing %s", c.CommandPath(), names)
		}
		if len(args) > n {
			return usageError("%s: unexpected argument %q", c.CommandPath(), args[n])
		}
		return nil
	}
}

// legacyArgs rewrites Go-flag-style single-dash long flags (-config x, -id=x, -help) to the
// double-dash form pflag expects, so scripts written against the old CLI keep working. Only names
// some command defines are rewritten, and never a word that is the value of the previous flag.
func legacyArgs(root *cobra.Command, args []string) []string {
	long := map[string]bool{"help": true, "version": true} // name → takes a value
	valued := map[string]bool{}
	var visit func(c *cobra.Command)
	visit = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.LocalFlags(), c.PersistentFlags()} {
			fs.VisitAll(func(f *pflag.Flag) {
				long[f.Name] = true
				valued[f.Name] = f.NoOptDefVal == ""
			})
		}
		for _, s := range c.Commands() {
			visit(s)
		}
	}
	visit(root)
	out := make([]string, 0, len(args))
	skipValue := false
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if skipValue {
			skipValue = false
			out = append(out, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		dashes := len(a) - len(strings.TrimLeft(a, "-"))
		if dashes == 1 && len(name) > 1 && long[name] {
			a = "-" + a
			dashes = 2
		}
		if dashes == 2 && valued[name] && !hasValue {
			skipValue = true
		}
		out = append(out, a)
	}
	return out
}

func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	o := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(w, o)
	if cfg.Log.Format == "text" {
		h = slog.NewTextHandler(w, o)
	}
	return slog.New(tracing.LogHandler(reqctx.Handler(h)))
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
