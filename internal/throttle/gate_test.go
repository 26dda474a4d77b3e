package throttle

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestGate(t *testing.T) {
	ctx := context.Background()
	soon := func() time.Time { return time.Now().Add(50 * time.Millisecond) }
	var g gate
	r1, err := g.acquire(ctx, "a", 2, soon())
	if err != nil {
		t.Fatal(err)
	}
	r2, err := g.acquire(ctx, "a", 2, soon())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.acquire(ctx, "a", 2, soon()); !errors.Is(err, ErrBusy) {
		t.Fatalf("third attempt on a full account: %v, want ErrBusy", err)
	}
	rb, err := g.acquire(ctx, "b", 2, soon()) // another account has its own slots
	if err != nil {
		t.Fatal(err)
	}
	rb()
	got := make(chan error, 1)
	go func() {
		r3, err := g.acquire(ctx, "a", 2, time.Now().Add(5*time.Second))
		if err == nil {
			r3()
		}
		got <- err
	}()
	time.Sleep(10 * time.Millisecond)
	r1() // the waiter takes the slot given back
	if err := <-got; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	r4, err := g.acquire(cctx, "a", 2, soon())
	if err == nil { // a free slot may win the race against the cancelled context
		r4()
	}
	r2()
	if n := len(g.slots); n != 0 {
		t.Fatalf("%d accounts left in the gate after every release", n)
	}
}
