package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/migrations"
	"github.com/lingpai/lingpai/server"
	"github.com/lingpai/lingpai/storage"
)

const defaultConfigFile = "config.yaml"

// loadConfig reads --config (required to exist when given) or ./config.yaml (optional).
func (e *env) loadConfig(path string, opts ...config.Option) (*config.Config, error) {
	required := path != ""
	if path == "" {
		path = defaultConfigFile
	}
	return config.Load(path, required, e.environ, opts...)
}

// announce prints the one stderr line that says which configuration file and database a command
// uses: a server that silently ran on defaults and created ./lingpai.db was issue 18's first
// surprise.
func (e *env) announce(path string, cfg *config.Config) {
	var src string
	if path == "" {
		path = defaultConfigFile
	}
	abs, _ := filepath.Abs(path)
	if _, err := os.Stat(path); err == nil {
		src = "config " + abs
	} else {
		src = fmt.Sprintf("no config file (%s not found): using defaults", abs)
	}
	if env := e.envKeys(); len(env) > 0 {
		src += " and " + strings.Join(env, ",")
	}
	fmt.Fprintf(e.stderr, "lingpai: %s; database %s %s\n", src, cfg.Database.Driver, describeDSN(cfg.Database.Driver, cfg.Database.DSN))
}

// envKeys lists the LINGPAI_* variables in effect, since they override the file.
func (e *env) envKeys() []string {
	var out []string
	for _, kv := range e.environ {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, config.EnvPrefix) && !strings.HasPrefix(name, "LINGPAI_TEST_") {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// openStore loads config and opens the database (migrated), for admin commands. Its signature is
// kept for commands written against the flag package (flagcompat.go).
func (e *env) openStore(cfgPath string) (*config.Config, *storage.Store, error) {
	cfg, err := e.loadConfig(cfgPath)
	if err != nil {
		return nil, nil, err
	}
	e.announce(cfgPath, cfg)
	st, err := e.openStoreSchema(cfg, newLogger(e.stderr, cfg), false)
	if err != nil {
		return nil, nil, err
	}
	return cfg, st, nil
}

// store is openStore with the shared --config flag.
func (e *env) store() (*config.Config, *storage.Store, error) { return e.openStore(e.cfgPath) }

// inStore opens the store named by --config, runs fn with it and closes it: the frame of every
// command that reads or writes the database.
func (e *env) inStore(fn func(*config.Config, *storage.Store) error) error {
	cfg, st, err := e.store()
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(cfg, st)
}

func storageOptions(cfg *config.Config, logger *slog.Logger) storage.Options {
	return storage.Options{Logger: logger,
		Driver: cfg.Database.Driver, DSN: cfg.Database.DSN, DSNs: cfg.Database.DSNs, MaxOpenConns: cfg.Database.MaxOpenConns, QueryTimeout: cfg.Database.QueryTimeout,
		MaxIdleConns: cfg.Database.MaxIdleConns, ConnMaxLifetime: cfg.Database.ConnMaxLifetime,
		ClientCacheTTL: cfg.Server.CacheTTL, DefaultAudience: []string{strings.TrimRight(cfg.Server.Issuer, "/") + "/resources"},
		Secrets:               systemSecrets(cfg),
		StatelessAccessTokens: !cfg.Tokens.StoreAccessTokens, AccessTokenLifetime: cfg.Tokens.AccessTokenLifetime,
	}
}

// systemSecrets is security.secrets as storage.Options takes them.
func systemSecrets(cfg *config.Config) [][]byte {
	var out [][]byte
	for _, s := range cfg.Security.Secrets {
		out = append(out, []byte(s))
	}
	return out
}

// openDB opens the database without touching the schema, with errors that name the real cause.
func openDB(cfg *config.Config, logger *slog.Logger) (*storage.Store, error) {
	if err := precheckDSN(cfg.Database.Driver, cfg.Database.DSN); err != nil {
		return nil, err
	}
	st, err := storage.Open(storageOptions(cfg, logger))
	if err != nil {
		return nil, explainDBError(cfg.Database.Driver, cfg.Database.DSN, err)
	}
	return st, nil
}

// openStoreSchema opens the database and makes sure its schema is the one this binary knows (see
// checkSchema); apply is serve --migrate.
func (e *env) openStoreSchema(cfg *config.Config, logger *slog.Logger, apply bool) (*storage.Store, error) {
	st, err := openDB(cfg, logger)
	if err != nil {
		return nil, err
	}
	if err := e.checkSchema(e.ctx, st, logger, apply); err != nil {
		_ = st.Close()
		return nil, explainDBError(cfg.Database.Driver, cfg.Database.DSN, err)
	}
	return st, nil
}

func (e *env) newMigrator(st *storage.Store, logger *slog.Logger) (*migrations.Migrator, error) {
	db, err := st.DB(context.Background()).DB()
	if err != nil {
		return nil, err
	}
	return migrations.New(db, st.Driver(), migrations.Options{Logger: logger, FS: e.migrations})
}

// checkSchema refuses a schema newer than this binary knows (an older binary would misread it) and
// an older one unless apply is set: upgrading is a decision (lingpai migrate, or serve --migrate),
// not a side effect of "client list". Two cases need no decision and go ahead: an empty database
// gets the schema (nothing there to break), and a database of the release before versioned
// migrations whose tables verify as version 1 is used as version 1 (lingpai migrate records it).
func (e *env) checkSchema(ctx context.Context, st *storage.Store, logger *slog.Logger, apply bool) error {
	m, err := e.newMigrator(st, logger)
	if errors.Is(err, migrations.ErrNoMigrations) {
		// A backend whose versioned migrations are not written yet keeps the old behaviour, so
		// adding one does not wait for its SQL files; lingpai migrate says what is missing.
		logger.Warn("no versioned migrations for this database yet: using GORM AutoMigrate", "driver", st.Driver())
		return st.Migrate(ctx, server.Models()...)
	}
	if err != nil {
		return err
	}
	s, err := m.State(ctx)
	if err != nil {
		return err
	}
	current := s.Version
	if s.Legacy {
		if err := m.VerifyLegacy(ctx); err != nil {
			return err
		}
		current = 1
	}
	switch {
	case current > s.Latest:
		return fmt.Errorf("the database schema is version %d, newer than this lingpai knows (%d): run the newer release (or its lingpai migrate down --to %d)", current, s.Latest, s.Latest)
	case s.Empty || apply && (current < s.Latest || s.Legacy):
		applied, err := m.Up(ctx)
		for _, a := range applied {
			logger.Info("schema migration applied", "event", "schema.migrated", "version", a.Version, "name", a.Name, "direction", a.Direction)
		}
		return err
	case current < s.Latest:
		return fmt.Errorf("the database schema is version %d and this lingpai needs %d: run lingpai migrate first (or serve --migrate)", current, s.Latest)
	}
	return nil
}
