package cli

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// writeDocs writes the command reference (docs/cli.md) from the command tree itself, so the
// document cannot drift from the binary: TestDocsUpToDate fails when it is stale. It is a few lines
// rather than cobra/doc, whose one-file-per-command layout and extra dependencies buy nothing here.
func writeDocs(w io.Writer, root *cobra.Command) error {
	var b bytes.Buffer
	b.WriteString("# lingpai command line\n\n")
	b.WriteString("<!-- Generated from the command tree by `LINGPAI_UPDATE_DOCS=1 go test ./cli -run TestDocsUpToDate`; do not edit. -->\n\n")
	b.WriteString("Exit codes: 0 success, 1 the command failed, 2 the command line is wrong (unknown command or\n")
	b.WriteString("flag, missing or stray argument, contradictory input). Flags go before or after arguments;\n")
	b.WriteString("single-dash long flags (`-config`) are still accepted.\n\n")
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" {
			return
		}
		fmt.Fprintf(&b, "## %s\n\n", c.CommandPath())
		desc := c.Long
		if desc == "" {
			desc = c.Short
		}
		fmt.Fprintf(&b, "%s\n\n", strings.TrimSpace(desc))
		if c.Runnable() && !c.HasAvailableSubCommands() {
			fmt.Fprintf(&b, "```\n%s\n```\n\n", c.UseLine())
		}
		if subs := visible(c); len(subs) > 0 {
			b.WriteString("| command | |\n|---|---|\n")
			for _, s := range subs {
				fmt.Fprintf(&b, "| [`%s`](#%s) | %s |\n", s.Name(), anchor(s.CommandPath()), s.Short)
			}
			b.WriteString("\n")
		}
		if f := c.NonInheritedFlags().FlagUsages(); f != "" {
			fmt.Fprintf(&b, "Flags:\n\n```\n%s```\n\n", f)
		}
		for _, s := range visible(c) {
			walk(s)
		}
	}
	walk(root)
	_, err := w.Write(b.Bytes())
	return err
}

func visible(c *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	for _, s := range c.Commands() {
		if !s.Hidden && s.Name() != "help" {
			out = append(out, s)
		}
	}
	return out
}

func anchor(path string) string { return strings.ReplaceAll(path, " ", "-") }
