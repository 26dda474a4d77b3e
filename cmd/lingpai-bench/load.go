package main

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// result is one measured scenario.
type result struct {
	backend, name string
	ops, errs     int
	firstErr      error
	elapsed       time.Duration
	cpu           time.Duration // CPU time of the whole process (server and load generator)
	p50, p99      time.Duration
}

// perCPU is operations per CPU-second of this process: unlike the rate, it does not fall when
// other tenants of a shared machine take the cores.
func (r result) perCPU() float64 {
	if r.cpu <= 0 {
		return 0
	}
	return float64(r.ops) / r.cpu.Seconds()
}

// cpuTime is the CPU time this process has used (user + system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (r result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops) / r.elapsed.Seconds()
}

// errExhausted ends a worker early without counting an error (a scenario ran out of
// pre-made inputs, such as authorization codes).
var errExhausted = context.Canceled

// measure runs op on conc workers for d after a warm-up, and reports throughput and latency.
// op gets the worker's index; an error counts against the scenario (its first is kept).
func measure(conc int, warmup, d time.Duration, op func(w int) error) result {
	if warmup > 0 {
		loop(conc, warmup, op, nil)
	}
	lat := make([][]time.Duration, conc)
	res := loop(conc, d, op, lat)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	if len(all) > 0 {
		res.p50 = all[len(all)*50/100]
		res.p99 = all[min(len(all)-1, len(all)*99/100)]
	}
	return res
}

func loop(conc int, d time.Duration, op func(w int) error, lat [][]time.Duration) result {
	var (
		ops, errs atomic.Int64
		firstErr  atomic.Value
		wg        sync.WaitGroup
	)
	start, cpu0 := time.Now(), cpuTime()
	deadline := start.Add(d)
	for w := range conc {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				t := time.Now()
				err := op(w)
				if err == errExhausted {
					return
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				ops.Add(1)
				if lat != nil {
					lat[w] = append(lat[w], time.Since(t))
				}
			}
		})
	}
	wg.Wait()
	r := result{ops: int(ops.Load()), errs: int(errs.Load()), elapsed: time.Since(start), cpu: cpuTime() - cpu0}
	if e, ok := firstErr.Load().(error); ok {
		r.firstErr = e
	}
	return r
}
