package claimvalue

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

func TestTime(t *testing.T) {
	at := time.Unix(1764633600, 0).UTC()
	for _, tc := range []struct {
		name string
		in   any
		want time.Time
	}{
		{"float64 (encoding/json)", float64(1764633600), at},
		{"int64 (fosite)", int64(1764633600), at},
		{"json.Number", json.Number("1764633600"), at},
		{"json.Number not an integer", json.Number("1.5e400"), time.Time{}},
		{"string", "1764633600", time.Time{}},
		{"absent", nil, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Time(tc.in); !got.Equal(tc.want) {
				t.Fatalf("Time(%#v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestStrings(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   any
		want []string
	}{
		{"space-separated scope", "openid  profile api", []string{"openid", "profile", "api"}},
		{"one audience", "api", []string{"api"}},
		{"string list", []string{"a", "b"}, []string{"a", "b"}},
		{"JSON list, non-strings dropped", []any{"a", 1.0, "b", nil}, []string{"a", "b"}},
		{"number", 3.0, nil},
		{"absent", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Strings(tc.in); !slices.Equal(got, tc.want) {
				t.Fatalf("Strings(%#v) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
