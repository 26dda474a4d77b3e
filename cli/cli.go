// Package cli is the lingpai command: serve, migrate and the admin subcommands. It lives outside
// cmd/ so a team can build its own binary that registers extra grants:
//
//	cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, server.WithGrant(pin.Grant{}))
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/reqctx"
	"github.com/lingpai/lingpai/server"
	"github.com/lingpai/lingpai/storage"
)

const usage = `lingpai — OAuth 2.0 / OpenID Connect token server

Usage:
  lingpai serve   [--config FILE] [--demo]
  lingpai migrate [--config FILE]
  lingpai client  create|list|show|delete ...
  lingpai user    create|set-password|disable|enable|list|link-wechat ...
  lingpai keys    list|rotate
  lingpai gc      [--config FILE]      delete expired rows now, print counts
  lingpai healthcheck [--url URL]      probe /healthz (the container HEALTHCHECK)
Every subcommand takes --config FILE (default ./config.yaml). Run "lingpai CMD -h" for its flags.
`

// env carries what every command needs; tests call Main with their own writers.
type env struct {
	ctx     context.Context
	stdout  io.Writer
	stderr  io.Writer
	opts    []server.Option
	environ []string
}

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, opts ...server.Option) int {
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr, opts: opts, environ: os.Environ()}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = e.serve(args[1:])
	case "migrate":
		err = e.migrate(args[1:])
	case "client":
		err = e.sub(args[1:], map[string]func([]string) error{
			"create": e.clientCreate, "list": e.clientList, "show": e.clientShow, "delete": e.clientDelete,
		})
	case "user":
		err = e.sub(args[1:], map[string]func([]string) error{
			"create": e.userCreate, "set-password": e.userSetPassword, "disable": e.userDisable(true),
			"enable": e.userDisable(false), "list": e.userList, "link-wechat": e.userLinkWechat,
		})
	case "keys":
		err = e.sub(args[1:], map[string]func([]string) error{"list": e.keysList, "rotate": e.keysRotate})
	case "gc":
		err = e.gc(args[1:])
	case "healthcheck":
		err = e.healthcheck(args[1:])
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		err = usageError("unknown command %q", args[0])
	}
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "lingpai:", err)
	var ue *usageErr
	if errors.As(err, &ue) {
		fmt.Fprint(stderr, usage)
		return 2
	}
	return 1
}

type usageErr struct{ msg string }

func (u *usageErr) Error() string { return u.msg }

func usageError(format string, args ...any) error { return &usageErr{fmt.Sprintf(format, args...)} }

func (e *env) sub(args []string, cmds map[string]func([]string) error) error {
	if len(args) == 0 {
		return usageError("missing subcommand")
	}
	f, ok := cmds[args[0]]
	if !ok {
		return usageError("unknown subcommand %q", args[0])
	}
	return f(args[1:])
}

// flags returns a FlagSet with --config already defined.
func (e *env) flags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("lingpai "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfg := fs.String("config", "", "configuration file (default ./config.yaml)")
	return fs, cfg
}

func (e *env) loadConfig(path string, opts ...config.Option) (*config.Config, error) {
	required := path != ""
	if path == "" {
		path = "config.yaml"
	}
	return config.Load(path, required, e.environ, opts...)
}

// openStore loads config and opens (and migrates) the database, for admin commands.
func (e *env) openStore(cfgPath string) (*config.Config, *storage.Store, error) {
	cfg, err := e.loadConfig(cfgPath)
	if err != nil {
		return nil, nil, err
	}
	st, err := openStore(e.ctx, cfg, newLogger(e.stderr, cfg))
	if err != nil {
		return nil, nil, err
	}
	return cfg, st, nil
}

func openStore(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*storage.Store, error) {
	st, err := storage.Open(storage.Options{Logger: logger,
		Driver: cfg.Database.Driver, DSN: cfg.Database.DSN, MaxOpenConns: cfg.Database.MaxOpenConns,
		MaxIdleConns: cfg.Database.MaxIdleConns, ConnMaxLifetime: cfg.Database.ConnMaxLifetime, QueryTimeout: cfg.Database.QueryTimeout,
		ClientCacheTTL: cfg.Server.CacheTTL, DefaultAudience: []string{strings.TrimRight(cfg.Server.Issuer, "/") + "/resources"},
	})
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, st); err != nil {
		_ = st.Close()
		return nil, err
	}
	return st, nil
}

// migrate is idempotent; a replica racing another on an empty database retries once.
func migrate(ctx context.Context, st *storage.Store) error {
	err := st.Migrate(ctx, server.Models()...)
	if err != nil {
		err = st.Migrate(ctx, server.Models()...)
	}
	return err
}

func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	o := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(w, o)
	if cfg.Log.Format == "text" {
		h = slog.NewTextHandler(w, o)
	}
	return slog.New(reqctx.Handler(h))
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

func (e *env) migrate(args []string) error {
	fs, cfgPath := e.flags("migrate")
	return e.withStore(fs, cfgPath, args, nil, func(*config.Config, *storage.Store) error {
		fmt.Fprintln(e.stdout, "schema is up to date")
		return nil
	})
}

// withStore parses a subcommand's flags, runs check (so usage errors come before the database is
// touched), opens the store and runs fn with it.
func (e *env) withStore(fs *flag.FlagSet, cfgPath *string, args []string, check func() error, fn func(*config.Config, *storage.Store) error) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if check != nil {
		if err := check(); err != nil {
			return err
		}
	}
	cfg, st, err := e.openStore(*cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(cfg, st)
}
