package phone

import (
	"strings"
	"testing"
)

// FuzzNormalize: any input either fails with ErrInvalid or gives an E.164 number ("+" and 8 to 15
// digits) that normalises to itself, whatever the default region.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"13800138000", "+86 138 0013 8000", "008613800138000", "+1 (415) 555-2671", "", "+", "00", "１３８００１３８０００", "+86 138 0013 8000 ext. 12", "tel:+8613800138000"} {
		f.Add(s, "CN")
	}
	f.Add("4155552671", "US")
	f.Add("020 7946 0958", "ZZ")
	f.Fuzz(func(t *testing.T, raw, region string) {
		out, err := Normalize(raw, region)
		if err != nil {
			if out != "" {
				t.Fatalf("error %v with output %q", err, out)
			}
			return
		}
		digits := strings.TrimPrefix(out, "+")
		if !strings.HasPrefix(out, "+") || len(digits) < 8 || len(digits) > 15 || strings.Trim(digits, "0123456789") != "" {
			t.Fatalf("Normalize(%q, %q) = %q: not E.164", raw, region, out)
		}
		if again, err := Normalize(out, "CN"); err != nil || again != out {
			t.Fatalf("Normalize(%q) = %q, %v: not a fixed point", out, again, err)
		}
		m := Mask(out)
		shown := len(m) - len(strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return -1
			}
			return r
		}, m))
		if !strings.Contains(m, "****") || shown > len(digits)-4 {
			t.Fatalf("Mask(%q) = %q shows too much", out, m)
		}
	})
}
