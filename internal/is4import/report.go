package is4import

import (
	"fmt"
	"io"
	"sort"
	"time"
)

// Report is what an import did (or, with DryRun, would do), per kind.
type Report struct {
	Version string // the IS4 schema detected: v3 or v4
	DryRun  bool
	Kinds   []*KindReport
}

// KindReport counts one kind's rows.
type KindReport struct {
	Kind     string
	Read     int
	Imported int // new in lingpai
	Updated  int // already there (an earlier run): updated
	Skipped  int
	Skips    []Skip
	Notes    []Skip // imported, but with something left out (an X509 secret, an implicit grant)
	// Counted are skips too common to list row by row (consumed or expired tokens), by reason.
	Counted  map[string]int
	Duration time.Duration
}

// Skip names a source row and why it was skipped (or what of it was left out).
type Skip struct {
	ID     string
	Reason string
}

func (k *KindReport) skip(id, format string, args ...any) {
	k.Skipped++
	k.Skips = append(k.Skips, Skip{ID: id, Reason: fmt.Sprintf(format, args...)})
}

func (k *KindReport) count(reason string) {
	k.Skipped++
	if k.Counted == nil {
		k.Counted = map[string]int{}
	}
	k.Counted[reason]++
}

func (k *KindReport) note(id, format string, args ...any) {
	k.Notes = append(k.Notes, Skip{ID: id, Reason: fmt.Sprintf(format, args...)})
}

// Kind returns the report of one kind, nil when it was not imported.
func (r *Report) Kind(kind string) *KindReport {
	for _, k := range r.Kinds {
		if k.Kind == kind {
			return k
		}
	}
	return nil
}

// Print writes the report for a person.
func (r *Report) Print(w io.Writer) {
	mode := ""
	if r.DryRun {
		mode = " (dry run: nothing was written)"
	}
	fmt.Fprintf(w, "IdentityServer4 %s source%s\n", r.Version, mode)
	for _, k := range r.Kinds {
		rate := 0.0
		if k.Duration > 0 {
			rate = float64(k.Read) / k.Duration.Seconds()
		}
		fmt.Fprintf(w, "%-10s read %d, imported %d, updated %d, skipped %d (%s, %.0f rows/s)\n",
			k.Kind+":", k.Read, k.Imported, k.Updated, k.Skipped, k.Duration.Round(time.Millisecond), rate)
		for _, s := range k.Skips {
			fmt.Fprintf(w, "  skipped %s: %s\n", s.ID, s.Reason)
		}
		reasons := make([]string, 0, len(k.Counted))
		for r := range k.Counted {
			reasons = append(reasons, r)
		}
		sort.Strings(reasons)
		for _, r := range reasons {
			fmt.Fprintf(w, "  skipped %d: %s\n", k.Counted[r], r)
		}
		for _, s := range k.Notes {
			fmt.Fprintf(w, "  note %s: %s\n", s.ID, s.Reason)
		}
	}
}

// progress prints "users: 12000/100000 rows, 4100 rows/s, ETA 21s" at most every interval.
type progress struct {
	w        io.Writer
	kind     string
	total    int
	start    time.Time
	last     time.Time
	interval time.Duration
}

func newProgress(w io.Writer, kind string, total int, interval time.Duration) *progress {
	now := time.Now()
	return &progress{w: w, kind: kind, total: total, start: now, last: now, interval: interval}
}

func (p *progress) tick(done int) {
	now := time.Now()
	if p.w == nil || now.Sub(p.last) < p.interval {
		return
	}
	p.last = now
	rate := float64(done) / now.Sub(p.start).Seconds()
	eta := "?"
	if rate > 0 && p.total >= done {
		eta = time.Duration(float64(p.total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "%s: %d/%d rows, %.0f rows/s, ETA %s\n", p.kind, done, p.total, rate, eta)
}
