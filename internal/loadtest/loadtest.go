// Package loadtest drives a mix of lingpai's flows (every standard grant, refreshes,
// introspections, revocations and browser sign-ins) against one or more replicas over real HTTP,
// at a fixed rate for a fixed time, and reports throughput, latency and errors per operation plus
// each replica's memory, goroutines and open database connections sampled from /metrics.
// cmd/lingpai-load is its command line; the soak test in internal/opstest uses it directly.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config is one run.
type Config struct {
	Targets []string // replica base URLs (loopback)
	// Metrics maps a target to the base URL that serves its /metrics (server.admin_addr: the
	// public address never serves it); a target missing here is sampled at its own URL.
	Metrics      map[string]string
	ClientID     string // a confidential client allowed client_credentials, password, refresh_token, authorization_code
	ClientSecret string
	Username     string
	Password     string
	RedirectURI  string        // registered for the client, consent skipped
	Rate         float64       // operations started per second (open loop)
	Duration     time.Duration // how long operations are started
	MaxInFlight  int           // operations in flight at most; an operation that finds none free counts as "shed by the client"
	SampleEvery  time.Duration // replica sampling interval (default 5s)
	Timeout      time.Duration // per HTTP request (default 10s)
	// Mix weights per operation; nil uses DefaultMix.
	Mix map[string]int
}

// The operations.
const (
	OpClientCredentials = "client_credentials"
	OpPassword          = "password"
	OpRefresh           = "refresh_token"
	OpIntrospect        = "introspect"
	OpRevoke            = "revoke"
	OpBrowser           = "browser_sign_in" // login page, sign-in, authorize, code exchange
)

// DefaultMix weighs the cheap machine-to-machine calls most, as production traffic does; the
// password flows (argon2id by design) and browser sign-ins are the expensive few.
var DefaultMix = map[string]int{OpClientCredentials: 40, OpRefresh: 20, OpIntrospect: 20, OpRevoke: 5, OpPassword: 10, OpBrowser: 5}

// OpStats is one operation's outcome.
type OpStats struct {
	Count, Errors, Shed int
	Unavailable         int // errors that were a 503 (lingpai shedding load or a dependency down)
	P50, P99, Max       time.Duration
	FirstErrors         []string
	latencies           []time.Duration
}

// Sample is one replica's state at one time.
type Sample struct {
	At          time.Duration // since the start
	Target      string
	RSSBytes    float64
	Goroutines  float64
	DBOpenConns float64
	InFlight    float64
}

// Report is a run's result.
type Report struct {
	Elapsed    time.Duration
	Started    int
	Throughput float64 // completed operations per second
	Ops        map[string]*OpStats
	Samples    []Sample
	// Windows are per-interval p99s over the whole mix, to see whether latency drifts.
	Windows []Window
}

// Window is the latency of one interval.
type Window struct {
	At       time.Duration
	Count    int
	P50, P99 time.Duration
	Errors   int
}

type result struct {
	op   string
	at   time.Duration
	took time.Duration
	err  error
	shed bool
}

// Run drives the load and blocks until every started operation has finished.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if len(cfg.Targets) == 0 || cfg.Rate <= 0 || cfg.Duration <= 0 {
		return nil, errors.New("loadtest: targets, rate and duration are required")
	}
	for _, t := range cfg.Targets {
		u, err := url.Parse(t)
		if err != nil || !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("loadtest: target %q: loopback addresses only", t)
		}
	}
	for _, m := range cfg.Metrics {
		u, err := url.Parse(m)
		if err != nil || !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("loadtest: metrics %q: loopback addresses only", m)
		}
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 256
	}
	if cfg.SampleEvery <= 0 {
		cfg.SampleEvery = 5 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	mix := cfg.Mix
	if mix == nil {
		mix = DefaultMix
	}
	var ops []string
	for op, w := range mix {
		for range w {
			ops = append(ops, op)
		}
	}
	slices.Sort(ops)
	if len(ops) == 0 {
		return nil, errors.New("loadtest: the mix has no operation with a weight")
	}
	d := &driver{cfg: cfg, http: &http.Client{Timeout: cfg.Timeout, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.MaxInFlight}}}
	results := make(chan result, 1024)
	var collected []result
	done := make(chan struct{})
	go func() {
		for r := range results {
			collected = append(collected, r)
		}
		close(done)
	}()
	start := time.Now()
	var samples []Sample
	var smu sync.Mutex
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var sampling sync.WaitGroup
	sampling.Add(1)
	go func() {
		defer sampling.Done()
		tick := time.NewTicker(cfg.SampleEvery)
		defer tick.Stop()
		for {
			for _, t := range cfg.Targets {
				if s, err := d.sample(sampleCtx, t); err == nil {
					s.At = time.Since(start)
					smu.Lock()
					samples = append(samples, s)
					smu.Unlock()
				}
			}
			select {
			case <-sampleCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	slots := make(chan struct{}, cfg.MaxInFlight)
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	next := start
	started := 0
	for time.Since(start) < cfg.Duration && ctx.Err() == nil {
		if wait := time.Until(next); wait > 0 {
			time.Sleep(wait)
		}
		next = next.Add(interval)
		op := ops[started%len(ops)]
		target := cfg.Targets[started%len(cfg.Targets)]
		started++
		at := time.Since(start)
		select {
		case slots <- struct{}{}:
		default:
			results <- result{op: op, at: at, shed: true}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			t0 := time.Now()
			err := d.do(ctx, op, target)
			results <- result{op: op, at: at, took: time.Since(t0), err: err}
		}()
	}
	wg.Wait()
	stopSampling()
	sampling.Wait()
	// One last sample after the load, to see what is left behind.
	for _, t := range cfg.Targets {
		if s, err := d.sample(ctx, t); err == nil {
			s.At = time.Since(start)
			samples = append(samples, s)
		}
	}
	close(results)
	<-done
	return summarise(collected, samples, started, time.Since(start), cfg.SampleEvery*2), nil
}

// is503 reports an answer 503 (every error of this package that carries a status says ": NNN").
func is503(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, ": 503 ") || strings.HasSuffix(msg, ": 503")
}

func isLoopback(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}

func summarise(rs []result, samples []Sample, started int, elapsed, window time.Duration) *Report {
	rep := &Report{Elapsed: elapsed, Started: started, Ops: map[string]*OpStats{}, Samples: samples}
	windows := map[int]*Window{}
	var wl = map[int][]time.Duration{}
	completed := 0
	for _, r := range rs {
		st := rep.Ops[r.op]
		if st == nil {
			st = &OpStats{}
			rep.Ops[r.op] = st
		}
		if r.shed {
			st.Shed++
			continue
		}
		st.Count++
		completed++
		i := int(r.at / window)
		w := windows[i]
		if w == nil {
			w = &Window{At: time.Duration(i) * window}
			windows[i] = w
		}
		w.Count++
		if r.err != nil {
			st.Errors++
			w.Errors++
			if is503(r.err) {
				st.Unavailable++
			}
			if len(st.FirstErrors) < 3 {
				st.FirstErrors = append(st.FirstErrors, r.err.Error())
			}
			continue
		}
		st.latencies = append(st.latencies, r.took)
		wl[i] = append(wl[i], r.took)
	}
	for _, st := range rep.Ops {
		st.P50, st.P99, st.Max = quantiles(st.latencies)
	}
	for i, w := range windows {
		w.P50, w.P99, _ = quantiles(wl[i])
		rep.Windows = append(rep.Windows, *w)
	}
	slices.SortFunc(rep.Windows, func(a, b Window) int { return int(a.At - b.At) })
	rep.Throughput = float64(completed) / elapsed.Seconds()
	return rep
}

func quantiles(l []time.Duration) (p50, p99, maxv time.Duration) {
	if len(l) == 0 {
		return 0, 0, 0
	}
	slices.Sort(l)
	at := func(q float64) time.Duration { return l[min(len(l)-1, int(q*float64(len(l))))] }
	return at(0.50), at(0.99), l[len(l)-1]
}

// TotalErrors counts failed operations (not client-side shedding).
func (r *Report) TotalErrors() int {
	n := 0
	for _, st := range r.Ops {
		n += st.Errors
	}
	return n
}

// Markdown renders the report as the tables docs/soak.md shows.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d operations started in %s, %.1f completed per second\n\n", r.Started, r.Elapsed.Round(time.Second), r.Throughput)
	b.WriteString("| operation | count | errors | of which 503 | shed by client | p50 | p99 | max |\n|---|---|---|---|---|---|---|---|\n")
	names := make([]string, 0, len(r.Ops))
	for n := range r.Ops {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		st := r.Ops[n]
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %s | %s | %s |\n", n, st.Count, st.Errors, st.Unavailable, st.Shed, ms(st.P50), ms(st.P99), ms(st.Max))
	}
	for _, n := range names {
		for _, e := range r.Ops[n].FirstErrors {
			fmt.Fprintf(&b, "\n- %s failed: `%.160s`", n, e)
		}
	}
	b.WriteString("\n\n| time | operations | errors | p50 | p99 |\n|---|---|---|---|---|\n")
	for _, w := range r.Windows {
		fmt.Fprintf(&b, "| %s | %d | %d | %s | %s |\n", w.At, w.Count, w.Errors, ms(w.P50), ms(w.P99))
	}
	b.WriteString("\n| time | replica | RSS (MiB) | goroutines | open DB connections | requests in flight |\n|---|---|---|---|---|---|\n")
	for _, s := range r.Samples {
		fmt.Fprintf(&b, "| %s | %s | %.1f | %.0f | %.0f | %.0f |\n", s.At.Round(time.Second), s.Target, s.RSSBytes/(1<<20), s.Goroutines, s.DBOpenConns, s.InFlight)
	}
	return b.String()
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + " ms"
}

// Trend compares a replica series' mean over the last third of the run with its mean over the
// second third (the first third is warm-up): the growth factor.
func Trend(samples []Sample, target string, value func(Sample) float64) float64 {
	var series []float64
	for _, s := range samples {
		if s.Target == target {
			series = append(series, value(s))
		}
	}
	if len(series) < 3 {
		return 1
	}
	third := len(series) / 3
	mean := func(v []float64) float64 {
		sum := 0.0
		for _, x := range v {
			sum += x
		}
		return sum / float64(len(v))
	}
	mid, last := mean(series[third:2*third]), mean(series[2*third:])
	if mid == 0 {
		return 1
	}
	return last / mid
}

// driver holds the state the operations share: refresh tokens and access tokens to use later.
type driver struct {
	cfg     Config
	http    *http.Client
	mu      sync.Mutex
	refresh []string
	access  []string // client_credentials tokens, for introspection
	seq     atomic.Int64
}

func (d *driver) push(list *[]string, v string) {
	if v == "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(*list) < 1000 {
		*list = append(*list, v)
	}
}

func (d *driver) pop(list *[]string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(*list) == 0 {
		return ""
	}
	i := rand.N(len(*list))
	v := (*list)[i]
	(*list)[i] = (*list)[len(*list)-1]
	*list = (*list)[:len(*list)-1]
	return v
}

func (d *driver) do(ctx context.Context, op, target string) error {
	switch op {
	case OpClientCredentials:
		tok, err := d.token(ctx, target, url.Values{"grant_type": {"client_credentials"}})
		if err == nil {
			// Introspected later: only these stay active (refreshes and revocations retire the
			// access tokens of their grant).
			d.push(&d.access, tok["access_token"])
		}
		return err
	case OpPassword:
		tok, err := d.token(ctx, target, url.Values{"grant_type": {"password"}, "username": {d.cfg.Username}, "password": {d.cfg.Password}, "scope": {"openid offline_access"}})
		if err == nil {
			d.push(&d.refresh, tok["refresh_token"])
		}
		return err
	case OpRefresh:
		rt := d.pop(&d.refresh)
		if rt == "" {
			return d.do(ctx, OpPassword, target)
		}
		tok, err := d.token(ctx, target, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
		if err == nil {
			d.push(&d.refresh, tok["refresh_token"])
		}
		return err
	case OpIntrospect:
		at := d.pop(&d.access)
		if at == "" {
			return d.do(ctx, OpClientCredentials, target)
		}
		body, err := d.post(ctx, target, "/connect/introspect", url.Values{"token": {at}})
		if err != nil {
			return err
		}
		if !strings.Contains(body, `"active":true`) {
			return fmt.Errorf("introspect: token not active: %.200s", body)
		}
		d.push(&d.access, at)
		return nil
	case OpRevoke:
		rt := d.pop(&d.refresh)
		if rt == "" {
			return d.do(ctx, OpClientCredentials, target)
		}
		_, err := d.post(ctx, target, "/connect/revocation", url.Values{"token": {rt}, "token_type_hint": {"refresh_token"}})
		return err
	case OpBrowser:
		return d.browser(ctx, target)
	}
	return fmt.Errorf("unknown operation %q", op)
}

func (d *driver) token(ctx context.Context, target string, form url.Values) (map[string]string, error) {
	body, err := d.post(ctx, target, "/connect/token", form)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, k := range []string{"access_token", "refresh_token"} {
		if m := regexp.MustCompile(`"` + k + `":"([^"]+)"`).FindStringSubmatch(body); m != nil {
			out[k] = m[1]
		}
	}
	if out["access_token"] == "" {
		return nil, fmt.Errorf("token: no access_token: %.200s", body)
	}
	return out, nil
}

func (d *driver) post(ctx context.Context, target, path string, form url.Values) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target+path, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(d.cfg.ClientID), url.QueryEscape(d.cfg.ClientSecret))
	return d.send(req, http.StatusOK)
}

func (d *driver) send(req *http.Request, want int) (string, error) {
	resp, err := d.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		return "", fmt.Errorf("%s %s: %d %.200s", req.Method, req.URL.Path, resp.StatusCode, raw)
	}
	return string(raw), nil
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
