package throttle

import (
	"context"
	"sync"
	"time"
)

// gate lets at most n attempts on one account run at once in this process, first come first
// served. The others wait here rather than reserving in the database, finding the slots taken,
// giving theirs back and sleeping at random: that costs two transactions per try and lets a late
// attempt overtake an early one. The database reservation still decides every attempt, and it
// alone bounds attempts across replicas.
type gate struct {
	mu    sync.Mutex
	slots map[string]*gateSlot
}

type gateSlot struct {
	ch    chan struct{}
	users int // attempts holding or waiting for a slot; the entry goes when none are left
}

// acquire waits for one of key's n slots until deadline; release gives it back.
func (g *gate) acquire(ctx context.Context, key string, n int, deadline time.Time) (release func(), err error) {
	g.mu.Lock()
	if g.slots == nil {
		g.slots = map[string]*gateSlot{}
	}
	s := g.slots[key]
	if s == nil {
		s = &gateSlot{ch: make(chan struct{}, max(n, 1))}
		g.slots[key] = s
	}
	s.users++
	g.mu.Unlock()
	leave := func() {
		g.mu.Lock()
		if s.users--; s.users == 0 {
			delete(g.slots, key)
		}
		g.mu.Unlock()
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case s.ch <- struct{}{}: // waiting senders are served in order
		return func() { <-s.ch; leave() }, nil
	case <-t.C:
		leave()
		return nil, ErrBusy
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
}
