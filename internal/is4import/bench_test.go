package is4import_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/lingpai/lingpai/internal/is4import"
	"github.com/lingpai/lingpai/internal/is4import/is4test"
	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/storagetest"
)

// TestImportVolume imports LINGPAI_IS4_BENCH users and as many refresh tokens (100000 for the
// README's figures) and logs rows/s per kind. It is skipped unless the variable is set: at
// 100,000 it takes minutes.
func TestImportVolume(t *testing.T) {
	// CI imports a small volume through the batched path (so it runs and is checked every time);
	// LINGPAI_IS4_BENCH=100000 measures README's figures.
	n, _ := strconv.Atoi(os.Getenv("LINGPAI_IS4_BENCH"))
	if n == 0 {
		n = 1200
	}
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			src := is4test.New(t, b.Name)
			is4test.Seed(t, src)
			start := time.Now()
			is4test.SeedBulk(t, src, n)
			t.Logf("seeded %d users + %d refresh tokens in %s", n, n, time.Since(start).Round(time.Millisecond))
			st := b.Open(t, storage.Options{})
			o := options(src)
			o.Progress = 10 * time.Second
			start = time.Now()
			rep, err := is4import.Run(context.Background(), o, st, testWriter{t})
			if err != nil {
				t.Fatal(err)
			}
			total := time.Since(start)
			for _, k := range rep.Kinds {
				t.Logf("%-9s %7d rows in %8s = %6.0f rows/s (imported %d, skipped %d)", k.Kind, k.Read,
					k.Duration.Round(time.Millisecond), float64(k.Read)/k.Duration.Seconds(), k.Imported, k.Skipped)
			}
			t.Logf("total %s for %d users + %d refresh tokens", total.Round(time.Millisecond), n, n)
			if rep.Kind("users").Imported != n+5 || rep.Kind("grants").Imported != n+2 {
				t.Fatalf("imported users %d, grants %d", rep.Kind("users").Imported, rep.Kind("grants").Imported)
			}
		})
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
