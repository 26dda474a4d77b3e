package opstest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lingpai/lingpai/internal/loadtest"
)

// soakEnv reads the soak's knobs: LINGPAI_SOAK_DURATION (default 60s, the CI version; docs/soak.md
// shows a 10-minute run), LINGPAI_SOAK_RATE (default half the capacity measured first) and
// LINGPAI_SOAK_REPORT (a file for the Markdown report).
func soakEnv(t *testing.T) (time.Duration, float64, string) {
	d := 60 * time.Second
	if v := os.Getenv("LINGPAI_SOAK_DURATION"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatalf("LINGPAI_SOAK_DURATION: %v", err)
		}
	}
	rate := 0.0
	if v := os.Getenv("LINGPAI_SOAK_RATE"); v != "" {
		var err error
		if rate, err = strconv.ParseFloat(v, 64); err != nil {
			t.Fatalf("LINGPAI_SOAK_RATE: %v", err)
		}
	}
	return d, rate, os.Getenv("LINGPAI_SOAK_REPORT")
}

// TestSoak runs two replicas on a private MariaDB, measures the capacity of the operation mix,
// then drives the mix at half of it: no errors, memory and goroutines flat after warm-up, p99
// steady. Then it offers twice the capacity for a short while: lingpai must shed (503 with
// Retry-After) or queue within a bound, not grow without limit, and serve normally afterwards.
func TestSoak(t *testing.T) {
	duration, rate, reportFile := soakEnv(t)
	db := startPrivateMariaDB(t)
	a, b := freeAddr(t), freeAddr(t)
	adminA, adminB := freeAddr(t), freeAddr(t) // /metrics is served on server.admin_addr only
	extra := []string{"LINGPAI_SERVER_ISSUER=http://lingpai.test", "LINGPAI_JANITOR_INTERVAL=1m", "LINGPAI_LOG_LEVEL=warn"}
	envA := baseEnv(a, "mysql", db.DSN(), append(extra, "LINGPAI_SERVER_ADMIN_ADDR="+adminA)...)
	envB := baseEnv(b, "mysql", db.DSN(), append(extra, "LINGPAI_SERVER_ADMIN_ADDR="+adminB)...)
	const redirect = "http://127.0.0.1:9/cb"
	secret := clientSecret(t, run(t, envA, "client", "create", "--id", "load", "--grant-types",
		"client_credentials,password,refresh_token,authorization_code", "--scopes", "openid,offline_access,api1",
		"--redirect-uris", redirect, "--skip-consent"))
	run(t, envA, "user", "create", "--username", "alice", "--password", "alice-password-1")
	pa, pb := startServe(t, envA), startServe(t, envB)
	cfg := loadtest.Config{Targets: []string{pa.URL, pb.URL}, ClientID: "load", ClientSecret: secret,
		Metrics:  map[string]string{pa.URL: "http://" + adminA, pb.URL: "http://" + adminB},
		Username: "alice", Password: "alice-password-1", RedirectURI: redirect}
	ctx := context.Background()

	// Capacity: offer far more than the replicas can do with a bounded number in flight; what
	// completes per second is the capacity of this mix on this machine.
	probe := cfg
	probe.Rate, probe.Duration, probe.MaxInFlight, probe.SampleEvery = 2000, 15*time.Second, 16, time.Hour
	capRep, err := loadtest.Run(ctx, probe)
	if err != nil {
		t.Fatal(err)
	}
	capacity := capRep.Throughput
	t.Logf("capacity of the mix (16 in flight, 2 replicas): %.0f operations/s, %d errors", capacity, capRep.TotalErrors())
	// At capacity lingpai may shed a request with its own 503 (the hashing limit queues password
	// checks for security.hash_queue_wait, then answers 503): that is the design, not a fault.
	// Anything else is.
	shedAtCapacity, ran := 0, 0
	for _, st := range capRep.Ops {
		shedAtCapacity += st.Unavailable
		ran += st.Count
	}
	if capRep.TotalErrors() > shedAtCapacity || shedAtCapacity*100 > ran {
		t.Fatalf("errors while measuring capacity:\n%s", capRep.Markdown())
	}
	if rate == 0 {
		rate = capacity / 2
	}

	soak := cfg
	soak.Rate, soak.Duration = rate, duration
	soak.SampleEvery = max(duration/30, 2*time.Second)
	rep, err := loadtest.Run(ctx, soak)
	if err != nil {
		t.Fatal(err)
	}
	md := fmt.Sprintf("Soak: %s at %.0f operations/s (capacity %.0f/s), 2 replicas on MariaDB\n\n%s", duration, rate, capacity, rep.Markdown())
	t.Log("\n" + md)
	if reportFile != "" {
		_ = os.WriteFile(reportFile, []byte(md), 0o644)
	}
	// No errors. The one exception is lingpai's own load shedding (503 after server.queue_timeout),
	// which a machine shared with other work can trigger in a burst even at half capacity: it must
	// stay rare (at most 1% of the operations), and is reported.
	// A run shorter than the documented 10 minutes (CI's 60 s) on a machine that may be busy
	// tolerates one other error in a thousand, reported; the long run tolerates none.
	short := duration < 5*time.Minute
	total, shed, other := 0, 0, 0
	for name, st := range rep.Ops {
		total += st.Count
		shed += st.Unavailable
		other += st.Errors - st.Unavailable
		if st.Shed > 0 || (!short && st.Errors != st.Unavailable) {
			t.Errorf("%s: %d errors (%d of them 503), %d not started: %v", name, st.Errors, st.Unavailable, st.Shed, st.FirstErrors)
		} else if st.Errors != st.Unavailable {
			t.Logf("%s: %d errors (%d of them 503): %v", name, st.Errors, st.Unavailable, st.FirstErrors)
		}
	}
	if short && other*1000 > total {
		t.Errorf("soak: %d errors other than lingpai's 503 in %d operations", other, total)
	}
	t.Logf("soak: %d operations, %d shed by lingpai with 503 (%.2f%%)", total, shed, 100*float64(shed)/float64(max(total, 1)))
	if float64(shed) > 0.01*float64(total) {
		t.Errorf("soak: %d of %d operations shed with 503 at half capacity", shed, total)
	}
	var verdicts []string
	for _, target := range soak.Targets {
		rss := loadtest.Trend(rep.Samples, target, func(s loadtest.Sample) float64 { return s.RSSBytes })
		gor := loadtest.Trend(rep.Samples, target, func(s loadtest.Sample) float64 { return s.Goroutines })
		verdicts = append(verdicts, fmt.Sprintf("%s: RSS last third / middle third = %.2f, goroutines %.2f", target, rss, gor))
		// Thirds of a 60-s run are 20 s: the heap still settles there, so a short run allows more.
		if limit := map[bool]float64{true: 1.5, false: 1.25}[short]; rss > limit || gor > 1.5 {
			t.Errorf("%s grows after warm-up: RSS ×%.2f, goroutines ×%.2f", target, rss, gor)
		}
	}
	p99mid, p99last := thirdsP99(rep.Windows)
	verdicts = append(verdicts, fmt.Sprintf("p99 middle third %s, last third %s", p99mid, p99last))
	if p99last > 2*p99mid+50*time.Millisecond {
		t.Errorf("p99 drifts: %s in the middle third, %s in the last", p99mid, p99last)
	}
	t.Log(strings.Join(verdicts, "\n"))

	// Overload: twice the capacity, as many in flight as the clients like.
	over := cfg
	over.Rate, over.Duration, over.MaxInFlight, over.SampleEvery = 2*capacity, min(duration/3, 30*time.Second), 4096, 2*time.Second
	over.Timeout = 15 * time.Second
	orep, err := loadtest.Run(ctx, over)
	if err != nil {
		t.Fatal(err)
	}
	overMD := fmt.Sprintf("Overload: %s at %.0f operations/s (2× capacity)\n\n%s", over.Duration, over.Rate, orep.Markdown())
	t.Log("\n" + overMD)
	if reportFile != "" {
		_ = os.WriteFile(reportFile, []byte(md+"\n"+strings.Join(verdicts, "\n")+"\n\n"+overMD), 0o644)
	}
	// Shedding, not queueing without bound: every failure is a 503, every answer comes within
	// server.queue_timeout (1s) plus the longest request's own time, memory stays bounded.
	shed, served := 0, 0
	for name, st := range orep.Ops {
		shed += st.Unavailable
		served += st.Count - st.Errors
		if st.Errors != st.Unavailable {
			t.Errorf("overload, %s: %d errors, only %d of them 503: %v", name, st.Errors, st.Unavailable, st.FirstErrors)
		}
		// One request waits at most server.queue_timeout (1 s) for admission, then its own time:
		// for a password check that includes the account's throttle slots (up to 5 s) and a hashing
		// slot. The browser sign-in is five requests (authorize, login page, sign-in, authorize,
		// code exchange), each admitted on its own, so its bound is larger; a hang still fails
		// (the client gives up at 15 s, an error that is not a 503).
		limit := 8 * time.Second
		if name == loadtest.OpBrowser {
			limit = 12 * time.Second
		}
		if st.Max > limit {
			t.Errorf("overload, %s: an answer took %s (bound %s)", name, st.Max, limit)
		}
	}
	var peakSoak, peakOver float64
	for _, s := range rep.Samples {
		peakSoak = max(peakSoak, s.RSSBytes)
	}
	for _, s := range orep.Samples {
		peakOver = max(peakOver, s.RSSBytes)
	}
	t.Logf("overload: %d served, %d shed with 503; peak RSS %.0f MiB (soak peak %.0f MiB)", served, shed, peakOver/(1<<20), peakSoak/(1<<20))
	if peakSoak == 0 || peakOver == 0 {
		t.Errorf("no replica figures were sampled (is /metrics on server.admin_addr reachable?)")
	}
	// Bounded by design: server.max_in_flight (32) requests at once, the costliest an argon2id
	// check of 19 MiB, on top of what the replica used in the soak.
	if bound := peakSoak + 32*20<<20 + 64<<20; peakOver > bound {
		t.Errorf("overload: RSS peaked at %.0f MiB, over the %.0f MiB that max_in_flight allows", peakOver/(1<<20), bound/(1<<20))
	}
	// Afterwards lingpai serves normally again, once the requests the overload left queued are done.
	time.Sleep(3 * time.Second)
	after := cfg
	after.Rate, after.Duration = rate/2+1, 5*time.Second
	arep, err := loadtest.Run(ctx, after)
	if err != nil {
		t.Fatal(err)
	}
	if arep.TotalErrors() > 0 {
		t.Errorf("after the overload:\n%s", arep.Markdown())
	}
}

// thirdsP99 is the mean per-window p99 over the middle and the last third of the run.
func thirdsP99(ws []loadtest.Window) (mid, last time.Duration) {
	if len(ws) < 3 {
		return 0, 0
	}
	third := len(ws) / 3
	mean := func(w []loadtest.Window) time.Duration {
		var sum time.Duration
		for _, x := range w {
			sum += x.P99
		}
		return sum / time.Duration(len(w))
	}
	return mean(ws[third : 2*third]), mean(ws[2*third:])
}
