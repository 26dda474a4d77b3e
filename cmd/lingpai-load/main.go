// Command lingpai-load drives a mix of lingpai's flows against one or more replicas on this
// machine and prints throughput, p50/p99 and errors per operation plus each replica's RSS,
// goroutines and open database connections over time (from /metrics). It is bounded in time and
// rate and talks to loopback addresses only. docs/soak.md shows a run.
//
//	lingpai-load -targets http://127.0.0.1:8080,http://127.0.0.1:8081 -client-id load \
//	  -client-secret ... -username alice -password ... -redirect-uri http://127.0.0.1:9/cb \
//	  -rate 80 -duration 10m
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/lingpai/lingpai/internal/loadtest"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "lingpai-load:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("lingpai-load", flag.ContinueOnError)
	targets := fs.String("targets", "http://127.0.0.1:8080", "comma-separated replica base URLs (loopback only)")
	metrics := fs.String("metrics", "", "comma-separated admin base URLs serving each target's /metrics, in -targets order (server.admin_addr; default http://127.0.0.1:9090 for a single target)")
	cfg := loadtest.Config{}
	fs.StringVar(&cfg.ClientID, "client-id", "", "a confidential client allowed client_credentials, password, refresh_token and authorization_code, consent skipped")
	fs.StringVar(&cfg.ClientSecret, "client-secret", os.Getenv("LINGPAI_LOAD_CLIENT_SECRET"), "its secret (or LINGPAI_LOAD_CLIENT_SECRET)")
	fs.StringVar(&cfg.Username, "username", "", "a local user")
	fs.StringVar(&cfg.Password, "password", os.Getenv("LINGPAI_LOAD_PASSWORD"), "the user's password (or LINGPAI_LOAD_PASSWORD)")
	fs.StringVar(&cfg.RedirectURI, "redirect-uri", "", "a redirect URI registered for the client (browser sign-ins)")
	fs.Float64Var(&cfg.Rate, "rate", 20, "operations started per second")
	fs.DurationVar(&cfg.Duration, "duration", time.Minute, "how long to start operations (at most 24h)")
	fs.IntVar(&cfg.MaxInFlight, "max-in-flight", 256, "operations in flight at most; beyond, the client sheds (counted)")
	fs.DurationVar(&cfg.SampleEvery, "sample-every", 10*time.Second, "replica sampling interval")
	mix := fs.String("mix", "", "weights, e.g. client_credentials=40,refresh_token=20,introspect=20,revoke=5,password=10,browser_sign_in=5")
	failOnErrors := fs.Bool("fail-on-errors", true, "exit 1 when any operation failed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.Duration > 24*time.Hour || cfg.Rate > 10000 {
		return fmt.Errorf("-duration at most 24h, -rate at most 10000")
	}
	cfg.Targets = strings.Split(*targets, ",")
	admins := strings.Split(*metrics, ",")
	if *metrics == "" {
		admins = nil
		if len(cfg.Targets) == 1 {
			admins = []string{"http://127.0.0.1:9090"}
		}
	}
	if len(admins) > 0 && len(admins) != len(cfg.Targets) {
		return fmt.Errorf("-metrics: %d URLs for %d targets", len(admins), len(cfg.Targets))
	}
	cfg.Metrics = map[string]string{}
	for i, a := range admins {
		cfg.Metrics[cfg.Targets[i]] = strings.TrimRight(a, "/")
	}
	if *mix != "" {
		cfg.Mix = map[string]int{}
		for _, kv := range strings.Split(*mix, ",") {
			k, v, _ := strings.Cut(kv, "=")
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("-mix %q: weight must be a number", kv)
			}
			cfg.Mix[strings.TrimSpace(k)] = n
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := loadtest.Run(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Print(rep.Markdown())
	for _, t := range cfg.Targets {
		fmt.Printf("\n%s: RSS last third / middle third ×%.2f, goroutines ×%.2f\n", t,
			loadtest.Trend(rep.Samples, t, func(s loadtest.Sample) float64 { return s.RSSBytes }),
			loadtest.Trend(rep.Samples, t, func(s loadtest.Sample) float64 { return s.Goroutines }))
	}
	if *failOnErrors && rep.TotalErrors() > 0 {
		return fmt.Errorf("%d operations failed", rep.TotalErrors())
	}
	return nil
}
