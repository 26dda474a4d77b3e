package clientauth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lingpai/lingpai/internal/clientauth"
	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/internal/reqctx"
	"github.com/lingpai/lingpai/internal/throttle"
	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/storagetest"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// request is the context of one request from ip authenticating client.
func request(client, ip string) context.Context {
	ctx := reqctx.With(context.Background(), &reqctx.Info{RequestID: "r", ClientIP: ip})
	ctx = clientauth.WithHolder(ctx)
	clientauth.NoteClient(ctx, client)
	return ctx
}

type fixture struct {
	v      *clientauth.Verifier
	clock  *clock
	limit  *hashing.Limiter
	stored []byte // argon2id of "chosen"
	reset  []byte // argon2id of "chosen" again: the secret was set anew (new salt, new hash)
	fast   []byte // a generated secret's SHA-256
}

// slowHashRuns reports whether Compare ran the slow hash: with the limiter's only slot held, a
// hash that runs fails with ErrBusy, so a success proves the answer came from the cache.
func (f *fixture) slowHashRuns(t *testing.T, ctx context.Context, stored []byte, secret string) bool {
	t.Helper()
	release, err := f.limit.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	err = f.v.Compare(ctx, stored, []byte(secret))
	if err != nil && !errors.Is(err, hashing.ErrBusy) {
		t.Fatalf("Compare = %v, want nil (cached) or ErrBusy (hashed)", err)
	}
	return err != nil
}

func newFixture(t *testing.T, st *storage.Store) *fixture {
	t.Helper()
	h := hashing.Hasher{Argon2: hashing.Argon2Params{Memory: 1024, Time: 1, Threads: 1}}
	stored, _ := h.Hash(context.Background(), []byte("chosen"))
	reset, _ := h.Hash(context.Background(), []byte("chosen"))
	h.Limit = hashing.NewLimiter(1, 20*time.Millisecond)
	c := &clock{t: time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)}
	reg := throttle.New(st, throttle.Options{MaxFailures: 3, IPMaxFailures: 7, Window: 15 * time.Minute, Lockout: 10 * time.Minute}, c.now)
	v, err := clientauth.New(clientauth.Options{Hasher: h, Regulator: reg, TTL: time.Minute, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{v: v, clock: c, limit: h.Limit, stored: stored, reset: reset, fast: hashing.HashGenerated([]byte("generated"))}
}

func TestVerifier(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, f *fixture)
	}{
		{"a success is remembered for the TTL; a failure never is", func(t *testing.T, f *fixture) {
			ctx := request("app", "10.0.0.1")
			if err := f.v.Compare(ctx, f.stored, []byte("wrong")); !errors.Is(err, hashing.ErrMismatch) {
				t.Fatalf("wrong secret = %v", err)
			}
			if f.v.Len() != 0 {
				t.Fatal("a failure was cached")
			}
			if err := f.v.Compare(ctx, f.stored, []byte("chosen")); err != nil {
				t.Fatal(err)
			}
			if f.slowHashRuns(t, ctx, f.stored, "chosen") {
				t.Fatal("the second check of the same secret ran the slow hash")
			}
			if err := f.v.Compare(ctx, f.stored, []byte("wrong")); !errors.Is(err, hashing.ErrMismatch) {
				t.Fatalf("wrong secret after a cached success = %v", err)
			}
			f.clock.t = f.clock.t.Add(time.Minute + time.Second)
			if !f.slowHashRuns(t, ctx, f.stored, "chosen") {
				t.Fatal("a success older than the TTL was still used")
			}
		}},
		{"a new stored hash, another client id, or Forget misses the cache", func(t *testing.T, f *fixture) {
			ctx := request("app", "10.0.0.1")
			if err := f.v.Compare(ctx, f.stored, []byte("chosen")); err != nil {
				t.Fatal(err)
			}
			if !f.slowHashRuns(t, ctx, f.reset, "chosen") {
				t.Fatal("a changed stored hash hit the cache")
			}
			if !f.slowHashRuns(t, request("other", "10.0.0.1"), f.stored, "chosen") {
				t.Fatal("another client id hit the cache")
			}
			f.v.Forget("app")
			if !f.slowHashRuns(t, ctx, f.stored, "chosen") {
				t.Fatal("Forget left the entry")
			}
		}},
		{"failures lock the client at one IP only; the same 401 there even with the right secret", func(t *testing.T, f *fixture) {
			guesser := request("app", "10.0.0.66")
			for range 3 {
				if err := f.v.Compare(guesser, f.stored, []byte("guess")); !errors.Is(err, hashing.ErrMismatch) {
					t.Fatalf("guess = %v", err)
				}
			}
			if err := f.v.Compare(guesser, f.stored, []byte("chosen")); !errors.Is(err, hashing.ErrMismatch) || !errors.Is(err, throttle.ErrLocked) {
				t.Fatalf("right secret from the locked client+IP = %v, want a mismatch (locked)", err)
			}
			if err := f.v.Compare(request("app", "10.0.0.2"), f.stored, []byte("chosen")); err != nil {
				t.Fatalf("the client from another IP is locked out: %v", err)
			}
			if err := f.v.Compare(request("app", "10.0.0.2"), f.fast, []byte("generated")); err != nil {
				t.Fatalf("fast secret from another IP: %v", err)
			}
		}},
		{"generated secrets: failures count and lock too", func(t *testing.T, f *fixture) {
			ctx := request("svc", "10.0.0.7")
			for range 3 {
				if err := f.v.Compare(ctx, f.fast, []byte("guess")); !errors.Is(err, hashing.ErrMismatch) || errors.Is(err, throttle.ErrLocked) {
					t.Fatalf("guess = %v", err)
				}
			}
			if err := f.v.Compare(ctx, f.fast, []byte("guess")); !errors.Is(err, throttle.ErrLocked) {
				t.Fatalf("guess past the limit = %v, want locked", err)
			}
		}},
		{"an IP spraying many client ids is locked for all of them", func(t *testing.T, f *fixture) {
			for i := range 7 {
				ctx := request(string(rune('a'+i)), "10.0.0.9")
				if err := f.v.Compare(ctx, f.fast, []byte("guess")); !errors.Is(err, hashing.ErrMismatch) {
					t.Fatalf("guess %d = %v", i, err)
				}
			}
			if err := f.v.Compare(request("z", "10.0.0.9"), f.stored, []byte("chosen")); !errors.Is(err, throttle.ErrLocked) {
				t.Fatalf("a fresh client id from the spraying IP = %v, want locked", err)
			}
		}},
		{"concurrent misses of one key run one slow hash; the others wait for it", func(t *testing.T, f *fixture) {
			slow := hashing.Hasher{Argon2: hashing.Argon2Params{Memory: 16 * 1024, Time: 2, Threads: 1}}
			stored, _ := slow.Hash(context.Background(), []byte("chosen"))
			ctx := request("busy-client", "10.0.0.4")
			errs := make(chan error, 8)
			for range 8 {
				go func() { errs <- f.v.Compare(ctx, stored, []byte("chosen")) }()
			}
			for range 8 {
				// With one hashing slot and a 20ms queue, eight hashes of ~30ms would not all
				// get a slot in time: each success here came from the one check.
				if err := <-errs; err != nil {
					t.Fatalf("concurrent check = %v", err)
				}
			}
		}},
		{"an overloaded hash is neither a failure nor cached", func(t *testing.T, f *fixture) {
			ctx := request("app", "10.0.0.3")
			for range 5 {
				if !f.slowHashRuns(t, ctx, f.stored, "guess") {
					t.Fatal("hash did not run")
				}
			}
			if err := f.v.Compare(ctx, f.stored, []byte("chosen")); err != nil {
				t.Fatalf("busy answers were counted as failures: %v", err)
			}
		}},
	}
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { tt.run(t, newFixture(t, b.Open(t, storage.Options{}))) })
			}
		})
	}
}
