package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/ops/janitor"
	"github.com/lingpai/lingpai/internal/ops/metrics"
	"github.com/lingpai/lingpai/server"
	"github.com/lingpai/lingpai/storage"
)

// ops are the background parts of serve besides the public listener: the admin listener
// (server.admin_addr) and the janitor. stop shuts them down before the database closes.
type ops struct {
	admin  *http.Server
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (e *env) startOps(cfg *config.Config, app *server.App, st *storage.Store, logger *slog.Logger) (*ops, error) {
	o := &ops{}
	ctx, cancel := context.WithCancel(context.WithoutCancel(e.ctx))
	o.cancel = cancel
	if app.AdminHandler != nil {
		ln, err := net.Listen("tcp", cfg.Server.AdminAddr)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("listen on %s (server.admin_addr): %w", cfg.Server.AdminAddr, err)
		}
		serves := "/metrics /healthz /readyz /admin/"
		if t := cfg.Server.AdminTLS; t != nil {
			tc, err := t.Load()
			if err != nil {
				_ = ln.Close()
				cancel()
				return nil, err
			}
			ln = tls.NewListener(ln, tc) // mTLS: no client certificate, no HTTP
			serves += " (HTTPS, client certificate required)"
		}
		o.admin = &http.Server{Handler: app.AdminHandler, ReadHeaderTimeout: 10 * time.Second}
		o.wg.Add(1)
		go func() {
			defer o.wg.Done()
			if err := o.admin.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("admin listener stopped", "error", err)
			}
		}()
		logger.Info("admin listening", "addr", ln.Addr().String(), "serves", serves)
	}
	if cfg.Janitor.Interval > 0 {
		j := newJanitor(cfg, st, logger, app.Metrics)
		o.wg.Add(1)
		go func() {
			defer o.wg.Done()
			j.Run(ctx, cfg.Janitor.Interval)
		}()
	}
	return o, nil
}

// stop ends the janitor and the admin listener and waits for both.
func (o *ops) stop(ctx context.Context) {
	o.cancel()
	if o.admin != nil {
		_ = o.admin.Shutdown(ctx)
	}
	o.wg.Wait()
}

func newJanitor(cfg *config.Config, st *storage.Store, logger *slog.Logger, m *metrics.Metrics) *janitor.Janitor {
	host, _ := os.Hostname()
	j := &janitor.Janitor{DB: st, Targets: janitor.CoreTargets(), BatchSize: cfg.Janitor.BatchSize, Logger: logger,
		Holder: fmt.Sprintf("%s:%d", host, os.Getpid())}
	if m != nil {
		j.Observer = m
	}
	return j
}

func (e *env) gcCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "gc",
		Short: "Delete expired tokens, codes and sessions now and print the counts",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			return e.inStore(func(cfg *config.Config, st *storage.Store) error {
				counts, err := newJanitor(cfg, st, newLogger(e.stderr, cfg), nil).Sweep(e.ctx)
				tables := make([]string, 0, len(counts))
				for t := range counts {
					tables = append(tables, t)
				}
				sort.Strings(tables)
				var total int64
				for _, t := range tables {
					fmt.Fprintf(e.stdout, "%-24s %d\n", t, counts[t])
					total += counts[t]
				}
				fmt.Fprintf(e.stdout, "%-24s %d\n", "total", total)
				return err
			})
		},
	}
}

// healthcheckCommand probes /healthz and exits non-zero unless it answers 200. The runtime image
// has no shell or curl, so Docker's HEALTHCHECK runs the binary itself. It prints no config line:
// Docker runs it every few seconds.
func (e *env) healthcheckCommand() *cobra.Command {
	var target string
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "healthcheck",
		Short: "Probe /healthz (the container HEALTHCHECK)",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			if target == "" {
				addr := "127.0.0.1:8080"
				if cfg, err := e.loadConfig(e.cfgPath); err == nil {
					addr = cfg.Server.Addr
				}
				target = "http://" + probeAddr(addr) + "/healthz"
			}
			ctx, cancel := context.WithTimeout(e.ctx, timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
			if err != nil {
				return fmt.Errorf("healthcheck: %w", err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("healthcheck: %w", err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("healthcheck: %s answered %s", target, resp.Status)
			}
			fmt.Fprintln(e.stdout, "ok")
			return nil
		},
	}
	c.Flags().StringVar(&target, "url", "", "URL to probe (default: /healthz on server.addr, with 0.0.0.0 read as 127.0.0.1)")
	c.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	return c
}

// probeAddr turns a listen address into one a local client can dial.
func probeAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + port
}
