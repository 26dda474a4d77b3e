package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set at build time, e.g.
//
//	go build -ldflags "-X github.com/lingpai/lingpai/cli.version=v1.2.0 \
//	  -X github.com/lingpai/lingpai/cli.commit=$(git rev-parse HEAD) \
//	  -X github.com/lingpai/lingpai/cli.date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" ./cmd/lingpai
//
// They are variables only because -X can set nothing else; nothing assigns them at run time.
var (
	version = "dev"
	commit  = "dev"
	date    = "dev"
)

// versionInfo is what "lingpai version" prints.
type versionInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Date    string `json:"date"`
	Go      string `json:"go"`
}

func (v versionInfo) String() string {
	return fmt.Sprintf("%s (commit %s, built %s, %s)", v.Version, v.Commit, v.Date, v.Go)
}

// buildVersion falls back to the VCS stamp the go command records (go build in a git checkout) when
// no -ldflags were given, so a developer's binary still names its commit.
func buildVersion() versionInfo {
	v := versionInfo{Version: version, Commit: commit, Date: date, Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok && commit == "dev" {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.time":
				if date == "dev" {
					v.Date = s.Value
				}
			}
		}
	}
	return v
}

func (e *env) versionCommand() *cobra.Command {
	var out outputFlag
	c := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date",
		Args:  noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			v := buildVersion()
			if out.json() {
				return writeJSON(e.stdout, v)
			}
			_, err := fmt.Fprintf(e.stdout, "lingpai %s\n", v)
			return err
		},
	}
	out.register(c)
	return c
}
