package cli

import (
	"errors"
	"flag"

	"github.com/spf13/cobra"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/storage"
)

// flagCommand adapts a subcommand written against the standard flag package (a func(args) error
// that calls e.flags and e.withStore, the shape every command had before cobra) into the tree:
// cobra leaves its arguments alone, -h prints its flag.FlagSet help, and a flag error or
// usageError exits 2. A new command written that way is one file plus one AddCommand line, e.g.
//
//	root.AddCommand(group("import", "Import from another server",
//		e.flagCommand("identityserver4", "Import IdentityServer4 clients and users", e.importIS4)))
func (e *env) flagCommand(use, short string, run func(args []string) error) *cobra.Command {
	return &cobra.Command{
		Use:                use + " [flags]",
		Short:              short,
		DisableFlagParsing: true,
		RunE: func(c *cobra.Command, args []string) error {
			err := run(args)
			var ue *usageErr
			switch {
			case err == nil, errors.Is(err, flag.ErrHelp):
				return nil
			case errors.As(err, &ue):
				return err
			case isFlagError(err):
				return usageError("%s", err) // the FlagSet already printed its usage
			}
			return err
		},
	}
}

// flagError marks errors from a FlagSet's Parse; flag's own errors have no type of their own.
type flagError struct{ err error }

func (f flagError) Error() string { return f.err.Error() }

func isFlagError(err error) bool { var fe flagError; return errors.As(err, &fe) }

// flags returns a FlagSet with --config already defined.
func (e *env) flags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("lingpai "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfg := fs.String("config", e.cfgPath, "configuration file (default ./config.yaml)")
	return fs, cfg
}

// withStore parses a flag-style subcommand's flags, runs check (so usage errors come before the
// database is touched), opens the store and runs fn with it.
func (e *env) withStore(fs *flag.FlagSet, cfgPath *string, args []string, check func() error, fn func(*config.Config, *storage.Store) error) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return flagError{err}
	}
	if fs.NArg() > 0 && check == nil {
		return usageError("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
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
