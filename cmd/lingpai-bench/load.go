package main

import (
	"context"
	"errors"
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
	exhausted     bool // a worker ran out of inputs
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

// item is one thing measured: a ceiling or a scenario on one instance.
type item struct {
	backend, name string
	conc          int
	op            func(w int) error
	res           result
	lat           []time.Duration
	done          bool // ran out of inputs in an earlier slice
}

// slice runs the item for d and adds the outcome to its totals.
func (it *item) slice(d time.Duration) {
	if it.done {
		return
	}
	lat := make([][]time.Duration, it.conc)
	r := loop(it.conc, d, it.op, lat)
	if r.exhausted {
		it.done = true
	}
	it.res.ops += r.ops
	it.res.errs += r.errs
	it.res.elapsed += r.elapsed
	it.res.cpu += r.cpu
	if it.res.firstErr == nil {
		it.res.firstErr = r.firstErr
	}
	for _, l := range lat {
		it.lat = append(it.lat, l...)
	}
}

// result returns the totals with their latency percentiles.
func (it *item) result() result {
	r := it.res
	r.backend, r.name = it.backend, it.name
	slices.Sort(it.lat)
	if n := len(it.lat); n > 0 {
		r.p50, r.p99 = it.lat[n*50/100], it.lat[min(n-1, n*99/100)]
	}
	return r
}

func loop(conc int, d time.Duration, op func(w int) error, lat [][]time.Duration) result {
	var (
		ops, errs atomic.Int64
		firstErr  atomic.Value
		exhausted atomic.Bool
		wg        sync.WaitGroup
	)
	start, cpu0 := time.Now(), cpuTime()
	deadline := start.Add(d)
	for w := range conc {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				t := time.Now()
				err := op(w)
				if errors.Is(err, errExhausted) {
					exhausted.Store(true)
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
	r := result{ops: int(ops.Load()), errs: int(errs.Load()), elapsed: time.Since(start), cpu: cpuTime() - cpu0, exhausted: exhausted.Load()}
	if e, ok := firstErr.Load().(error); ok {
		r.firstErr = e
	}
	return r
}
