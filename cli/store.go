package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/lingpai/lingpai/config"
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
	st, err := openStore(e.ctx, cfg, newLogger(e.stderr, cfg))
	if err != nil {
		return nil, nil, err
	}
	return cfg, st, nil
}

// store is openStore with the shared --config flag.
func (e *env) store() (*config.Config, *storage.Store, error) { return e.openStore(e.cfgPath) }

func storageOptions(cfg *config.Config, logger *slog.Logger) storage.Options {
	return storage.Options{Logger: logger,
		Driver: cfg.Database.Driver, DSN: cfg.Database.DSN, MaxOpenConns: cfg.Database.MaxOpenConns,
		MaxIdleConns: cfg.Database.MaxIdleConns, ConnMaxLifetime: cfg.Database.ConnMaxLifetime,
		ClientCacheTTL: cfg.Server.CacheTTL, DefaultAudience: []string{strings.TrimRight(cfg.Server.Issuer, "/") + "/resources"},
	}
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

func openStore(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*storage.Store, error) {
	st, err := openDB(cfg, logger)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, st); err != nil {
		_ = st.Close()
		return nil, explainDBError(cfg.Database.Driver, cfg.Database.DSN, err)
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
