package cli

import (
	"encoding/json"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// outputFlag is -o/--output on list and show commands: table for people, json for scripts.
type outputFlag struct{ format string }

func (o *outputFlag) register(c *cobra.Command) {
	c.Flags().StringVarP(&o.format, "output", "o", "table", "output format: table or json")
	prev := c.PreRunE
	c.PreRunE = func(c *cobra.Command, args []string) error {
		if o.format != "table" && o.format != "json" {
			return usageError("%s: --output must be table or json, not %q", c.CommandPath(), o.format)
		}
		if prev != nil {
			return prev(c, args)
		}
		return nil
	}
}

func (o *outputFlag) json() bool { return o.format == "json" }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 2, 4, 2, ' ', 0) }

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

// nonNil keeps JSON lists as [] rather than null, so scripts need not special-case empty ones.
func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
