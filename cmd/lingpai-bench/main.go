// Command lingpai-bench measures lingpai on this machine: it starts lingpai on loopback (SQLite,
// and MySQL when a server answers), measures the ceilings a token request cannot beat (an
// RSA-2048 and an ECDSA P-256 signature, an argon2id hash, each bare on every core), then every
// scenario at a fixed concurrency, and prints one table with req/s, p50/p99 and each figure's
// ratio to what it is compared with. It never leaves loopback and is bounded in time
// (scenarios × (warm-up + duration)).
//
//	go run ./cmd/lingpai-bench                      # defaults: 16 in flight, 1 s warm-up, 5 s each
//	go run ./cmd/lingpai-bench -mysql ''            # SQLite only
//	go run ./cmd/lingpai-bench -only 'client_cred'  # scenarios whose name matches
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/lingpai/lingpai/config"
)

var (
	flagConc     = flag.Int("c", 16, "requests in flight")
	flagDuration = flag.Duration("d", 5*time.Second, "measured time per scenario and ceiling")
	flagWarmup   = flag.Duration("warmup", time.Second, "unmeasured warm-up per scenario")
	flagMySQL    = flag.String("mysql", defaultMySQL(), "MySQL DSN of a server where a throw-away database may be created ('' skips MySQL)")
	flagOnly     = flag.String("only", "", "run only scenarios whose name matches this regexp")
	flagProfile  = flag.String("cpuprofile", "", "write a CPU profile of the scenarios (server and load generator, one process) to this file")
	flagRounds   = flag.Int("rounds", 5, "slices each scenario's time is cut into; every ceiling and scenario runs once per round")
	flagCodes    = flag.Int("codes", 4000, "authorization codes made before the code-exchange scenario (it ends early when they run out)")
)

// unstoredLabel marks the rows measured with tokens.store_access_tokens false.
const unstoredLabel = ", AT not stored"

func defaultMySQL() string {
	for _, k := range []string{"LINGPAI_BENCH_MYSQL_DSN", "LINGPAI_TEST_MYSQL_DSN"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return "root@tcp(127.0.0.1:3306)/"
}

// hydraIntrospection is ORY Hydra v26.2.0's introspection figure measured with wrk on this
// machine when its RSA-2048 ceiling was hydraRSACeiling (issue 16). The machine is shared, so the
// reference is scaled by this run's RSA ceiling: a figure taken while the cores were half as
// fast is compared with half of Hydra's.
const (
	hydraIntrospection = 1000.0
	hydraRSACeiling    = 1900.0
)

func main() {
	flag.Parse()
	if *flagProfile != "" {
		f, err := os.Create(*flagProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "lingpai-bench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "lingpai-bench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// row is one line of the table.
type row struct {
	result
	against string  // what the ratio is taken against
	ratio   float64 // 0: none
	cpuRat  float64 // the same ratio per CPU-second of this process (0: none)
	target  string  // "" when the issue sets none
	met     *bool
}

func run(ctx context.Context, out io.Writer) error {
	only, err := regexp.Compile(*flagOnly)
	if err != nil {
		return fmt.Errorf("-only: %w", err)
	}
	rounds := max(1, *flagRounds)
	fmt.Fprintf(out, "lingpai-bench: %d in flight, %s warm-up + %s per scenario in %d interleaved slices, GOMAXPROCS=%d, %s\n",
		*flagConc, *flagWarmup, *flagDuration, rounds, runtime.GOMAXPROCS(0), runtime.Version())

	items, err := ceilings()
	if err != nil {
		return err
	}
	type target struct {
		backend, dsn string
		label        string // the backend column when it is not the backend alone
		tune         func(*config.Config)
		scenarios    []scenario
	}
	// tokens.store_access_tokens false: the scenarios whose cost it changes.
	unstored := []scenario{ccGenerated, refresh, introspect}
	noRows := func(c *config.Config) { c.Tokens.StoreAccessTokens = false }
	all := []scenario{ccGenerated, ccChosen, password, refresh, introspect, codeExchange, smsSignIn, jwks, discovery}
	dir, err := os.MkdirTemp("", "lingpai-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	targets := []target{{backend: "sqlite", dsn: sqliteDSN(dir + "/a"), scenarios: all},
		{backend: "sqlite", label: "sqlite" + unstoredLabel, dsn: sqliteDSN(dir + "/c"), scenarios: unstored, tune: noRows}}
	if *flagMySQL != "" {
		dsn, drop, err := mysqlDatabase(ctx, *flagMySQL, "")
		if err != nil {
			fmt.Fprintf(os.Stderr, "lingpai-bench: MySQL skipped: %v\n", err)
		} else {
			defer drop()
			targets = append(targets, target{backend: "mysql", dsn: dsn, scenarios: all})
			if dsn2, drop2, err := mysqlDatabase(ctx, *flagMySQL, "_unstored"); err == nil {
				defer drop2()
				targets = append(targets, target{backend: "mysql", label: "mysql" + unstoredLabel, dsn: dsn2, scenarios: unstored, tune: noRows})
			}
		}
	}
	targets = append(targets, target{backend: "sqlite", dsn: sqliteDSN(dir + "/b"), scenarios: []scenario{ccES256},
		tune: func(c *config.Config) { c.Tokens.SigningAlgorithm = "ES256" }})
	for _, t := range targets {
		if t.backend == "sqlite" {
			if err := os.MkdirAll(filepath.Dir(t.dsn), 0o700); err != nil {
				return err
			}
		}
		var in *instance
		for _, sc := range t.scenarios {
			if !only.MatchString(sc.name) {
				continue
			}
			if in == nil {
				if in, err = start(ctx, t.backend, t.dsn, t.tune); err != nil {
					return fmt.Errorf("%s: %w", t.backend, err)
				}
				defer in.close()
			}
			op, err := sc.prepare(ctx, in, newCaller(in.url, *flagConc), *flagConc)
			if err != nil {
				return fmt.Errorf("%s %s: %w", t.backend, sc.name, err)
			}
			label := t.backend
			if t.label != "" {
				label = t.label
			}
			items = append(items, item{backend: label, name: sc.name, conc: *flagConc, op: op})
		}
	}

	// Every ceiling and scenario runs in short slices, round after round, so a change in what
	// else the machine is doing reaches all of them alike and the ratios stay comparable.
	for i := range items {
		loop(items[i].conc, *flagWarmup, items[i].op, nil)
	}
	slice := *flagDuration / time.Duration(rounds)
	for range rounds {
		for i := range items {
			items[i].slice(slice)
		}
	}
	var results []result
	for i := range items {
		r := items[i].result()
		if r.ops == 0 {
			return fmt.Errorf("%s %s: no request succeeded: %w", r.backend, r.name, r.firstErr)
		}
		progress(r)
		results = append(results, r)
	}
	printTable(out, table(results))
	return nil
}

// table turns the measurements into rows with their ratios and targets (issue 16's).
func table(results []result) []row {
	by := map[string]result{}
	for _, r := range results {
		by[r.backend+"/"+r.name] = r
	}
	rsa, ec, argon := by["-/"+ceilRSA], by["-/"+ceilECDSA], by["-/"+ceilArgon2]
	var rows []row
	for _, r := range results {
		rw := row{result: r}
		gen := by[r.backend+"/"+ccGenerated.name]
		switch r.name {
		case ccGenerated.name:
			if strings.HasPrefix(r.backend, "sqlite") {
				rw = compare(rw, "RSA-2048 ceiling", rsa.rate(), rsa.perCPU(), 0.75, "")
			} else {
				sq := by[strings.Replace(r.backend, "mysql", "sqlite", 1)+"/"+ccGenerated.name]
				rw = compare(rw, "SQLite's figure", sq.rate(), sq.perCPU(), 0.85, "")
			}
		case ccChosen.name:
			rw = compare(rw, "generated secret", gen.rate(), gen.perCPU(), 0.90, "")
		case password.name:
			rw = compare(rw, "argon2id ceiling", argon.rate(), argon.perCPU(), 0.80, "p99 ≤ 3 × p50")
			ok := rw.met != nil && *rw.met && r.p99 <= 3*r.p50
			rw.met = &ok
		case introspect.name:
			scaled := hydraIntrospection * rsa.rate() / hydraRSACeiling
			rw = compare(rw, fmt.Sprintf("Hydra v26.2.0 (1,000/s at an RSA ceiling of 1,900/s; %s/s at this run's)", thousands(scaled)), scaled, 0, 5, "")
		case refresh.name, codeExchange.name, smsSignIn.name:
			rw = compare(rw, "RSA-2048 ceiling", rsa.rate(), rsa.perCPU(), 0, "")
		case ccES256.name:
			rw = compare(rw, "ECDSA P-256 ceiling", ec.rate(), ec.perCPU(), 0, "")
		}
		rows = append(rows, rw)
	}
	return rows
}

// compare sets the row's ratio against base; a positive target adds "≥ target" and whether it
// is met; extra is a further condition printed beside it.
func compare(rw row, against string, base, baseCPU, target float64, extra string) row {
	rw.against = against
	if base > 0 {
		rw.ratio = rw.rate() / base
	}
	if baseCPU > 0 && rw.perCPU() > 0 {
		rw.cpuRat = rw.perCPU() / baseCPU
	}
	if target > 0 {
		rw.target = fmt.Sprintf("≥ %.2f", target)
		if target >= 2 {
			rw.target = fmt.Sprintf("≥ %.0f×", target)
		}
		if extra != "" {
			rw.target += ", " + extra
		}
		// Issue 16 defines its targets on rates measured in one run; interleaving keeps the
		// rates comparable. The per-CPU ratio is shown beside it, for reading only.
		ok := rw.ratio >= target
		rw.met = &ok
	}
	return rw
}

func progress(r result) {
	fmt.Fprintf(os.Stderr, "  %-7s %-48s %9.1f/s  %7.1f/CPU-s  p50 %7s  p99 %7s  errors %d\n", r.backend, r.name, r.rate(),
		r.perCPU(), ms(r.p50), ms(r.p99), r.errs)
	if r.firstErr != nil {
		fmt.Fprintf(os.Stderr, "          first error: %v\n", r.firstErr)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func printTable(out io.Writer, rows []row) {
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| backend | scenario | req/s | p50 | p99 | errors | ratio | ratio per CPU-s | against | target | met |")
	fmt.Fprintln(out, "|---|---|---:|---:|---:|---:|---:|---:|---|---|---|")
	for _, r := range rows {
		ratio, cpuRatio, met := fmtRatio(r.ratio), fmtRatio(r.cpuRat), ""
		if r.met != nil {
			met = "no"
			if *r.met {
				met = "yes"
			}
		}
		fmt.Fprintf(out, "| %s | %s | %s | %s | %s | %d | %s | %s | %s | %s | %s |\n", r.backend, r.name,
			thousands(r.rate()), ms(r.p50), ms(r.p99), r.errs, ratio, cpuRatio, r.against, r.target, met)
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, strings.TrimSpace(`
Ceilings run bare on every core (GOMAXPROCS goroutines); scenarios send the fixed number of
requests in flight over keep-alive loopback connections, load generator and server sharing the
cores. Ceilings and scenarios run interleaved, in short slices round after round, so a change in
the machine's other load reaches all of them alike. "ratio" divides rates and decides "met";
"ratio per CPU-s" divides operations per CPU-second of this process (server and load generator;
for MySQL rows without the database server's CPU). The sms row counts sign-ins (a code request
plus the grant).`))
}

func fmtRatio(f float64) string {
	switch {
	case f <= 0:
		return ""
	case f >= 2:
		return fmt.Sprintf("%.1f×", f)
	}
	return fmt.Sprintf("%.2f", f)
}

func thousands(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
