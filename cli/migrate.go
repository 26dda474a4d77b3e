package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/lingpai/lingpai/migrations"
)

func (e *env) migrateCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending schema migrations and print what was applied",
		Long: `Apply pending schema migrations and print each one applied. Replicas may run it at the same
time: on MySQL and PostgreSQL a database lock lets one migrate while the others wait and then find
nothing to do. A database created by the release before versioned migrations is checked and
recorded as version 1 (baseline) without running anything.`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			return e.withMigrator(func(m *migrations.Migrator) error {
				applied, err := m.Up(e.ctx)
				e.printApplied(applied)
				if err != nil {
					return err
				}
				if len(applied) == 0 {
					fmt.Fprintf(e.stdout, "schema is up to date (version %d)\n", m.Latest())
				} else {
					fmt.Fprintf(e.stdout, "schema is now version %d\n", m.Latest())
				}
				return nil
			})
		},
	}
	c.AddCommand(e.migrateStatusCommand(), e.migrateDownCommand())
	return c
}

// withMigrator opens the database without the schema check every other command makes.
func (e *env) withMigrator(fn func(*migrations.Migrator) error) error {
	cfg, err := e.loadConfig(e.cfgPath)
	if err != nil {
		return err
	}
	e.announce(e.cfgPath, cfg)
	logger := newLogger(e.stderr, cfg)
	st, err := openDB(cfg, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	m, err := e.newMigrator(st, logger)
	if err != nil {
		return err
	}
	if err := fn(m); err != nil {
		return explainDBError(cfg.Database.Driver, cfg.Database.DSN, err)
	}
	return nil
}

func (e *env) printApplied(applied []migrations.Applied) {
	for _, a := range applied {
		switch a.Direction {
		case "baseline":
			fmt.Fprintf(e.stdout, "adopted   %d %s (existing tables verified; nothing run)\n", a.Version, a.Name)
		case "down":
			fmt.Fprintf(e.stdout, "reverted  %d %s (%s)\n", a.Version, a.Name, a.Duration.Round(time.Millisecond))
		default:
			fmt.Fprintf(e.stdout, "applied   %d %s (%s)\n", a.Version, a.Name, a.Duration.Round(time.Millisecond))
		}
	}
}

func (e *env) migrateStatusCommand() *cobra.Command {
	var out outputFlag
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the schema version and every migration this binary knows",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			return e.withMigrator(func(m *migrations.Migrator) error {
				st, err := m.State(e.ctx)
				if err != nil {
					return err
				}
				list, err := m.Status(e.ctx)
				if err != nil {
					return err
				}
				if out.json() {
					return writeJSON(e.stdout, struct {
						Version    int64               `json:"version"`
						Latest     int64               `json:"latest"`
						Empty      bool                `json:"empty"`
						Legacy     bool                `json:"legacy"`
						Migrations []migrations.Status `json:"migrations"`
					}{st.Version, st.Latest, st.Empty, st.Legacy, list})
				}
				switch {
				case st.Empty:
					fmt.Fprintf(e.stdout, "empty database; lingpai migrate applies versions 1 to %d\n", st.Latest)
				case st.Legacy:
					fmt.Fprintf(e.stdout, "tables of the release before versioned migrations; lingpai migrate adopts them as version 1\n")
				default:
					fmt.Fprintf(e.stdout, "schema version %d; this lingpai knows %d\n", st.Version, st.Latest)
				}
				tw := newTable(e.stdout)
				fmt.Fprintln(tw, "VERSION\tNAME\tAPPLIED")
				for _, s := range list {
					applied := "pending"
					if s.Applied {
						applied = s.AppliedAt.Format(time.RFC3339)
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\n", s.Version, s.Name, applied)
				}
				return tw.Flush()
			})
		},
	}
	out.register(c)
	return c
}

func (e *env) migrateDownCommand() *cobra.Command {
	var to int64
	c := &cobra.Command{
		Use:   "down --to N",
		Short: "Roll the schema back to version N (N >= 1; the running lingpai must know version N)",
		Args:  noArgs,
		PreRunE: func(c *cobra.Command, _ []string) error {
			if !c.Flags().Changed("to") {
				return usageError("migrate down: --to N is required")
			}
			if to < 1 {
				return usageError("migrate down: --to must be at least 1: going below 1 drops every table")
			}
			return nil
		},
		RunE: func(*cobra.Command, []string) error {
			return e.withMigrator(func(m *migrations.Migrator) error {
				reverted, err := m.DownTo(e.ctx, to)
				e.printApplied(reverted)
				if err != nil {
					return err
				}
				if len(reverted) == 0 {
					fmt.Fprintf(e.stdout, "nothing to revert: schema is at version %d or below\n", to)
				}
				return nil
			})
		},
	}
	c.Flags().Int64Var(&to, "to", 0, "the version to keep (required)")
	return c
}
