package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/storage"
)

// TestFlagCommand: a subcommand written against the flag package (as every command was before
// cobra, and as lingpai import identityserver4 is) keeps its exit codes inside the cobra tree.
func TestFlagCommand(t *testing.T) {
	t.Setenv("LINGPAI_DATABASE_DSN", filepath.Join(t.TempDir(), "cli.db"))
	cfg := filepath.Join("..", "config.yaml")
	run := func(args ...string) (string, int) {
		var out, errb bytes.Buffer
		e := &env{ctx: context.Background(), stdin: strings.NewReader(""), stdout: &out, stderr: &errb, environ: os.Environ()}
		legacy := func(args []string) error {
			fs, cfgPath := e.flags("import legacy")
			name := fs.String("name", "", "a name (required)")
			return e.withStore(fs, cfgPath, args, func() error {
				if *name == "" {
					return usageError("import legacy: --name is required")
				}
				return nil
			}, func(_ *config.Config, st *storage.Store) error {
				fmt.Fprintf(e.stdout, "imported %s (%s)\n", *name, st.Driver())
				return nil
			})
		}
		root := e.rootCommand()
		root.AddCommand(group("convert", "Convert from another server", e.flagCommand("legacy", "Import legacy things", legacy)))
		code := e.execute(root, args)
		return out.String() + errb.String(), code
	}
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"convert", "legacy", "--config", cfg, "--name", "x"}, 0, "imported x (sqlite)"},
		{[]string{"--config", cfg, "convert", "legacy", "-name", "y"}, 0, "imported y"}, // the root's --config is the default
		{[]string{"convert", "legacy", "-h"}, 0, "a name (required)"},
		{[]string{"convert", "legacy", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"convert", "legacy", "--config", cfg}, 2, "--name is required"},
		{[]string{"convert", "-h"}, 0, "legacy"},
		{[]string{"convert", "nope"}, 2, `unknown subcommand "nope"`},
	}
	for _, tt := range tests {
		out, code := run(tt.args...)
		if code != tt.code || !strings.Contains(out, tt.want) {
			t.Errorf("%v: exit %d (want %d), %q, want %q", tt.args, code, tt.code, out, tt.want)
		}
	}
}
