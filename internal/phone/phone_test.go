package phone

import (
	"errors"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		in, region, want string
		err              bool
	}{
		{"13800138000", "CN", "+8613800138000", false},
		{"+86 138 0013 8000", "CN", "+8613800138000", false},
		{"008613800138000", "CN", "+8613800138000", false},
		{"+86-138-0013-8000", "US", "+8613800138000", false},
		{" 138 0013 8000 ", "CN", "+8613800138000", false},
		{"(415) 555-2671", "US", "+14155552671", false},
		{"12345", "CN", "", true},
		{"1380013800x", "CN", "", true},
		{"", "CN", "", true},
		{"+86 138 0013 8000 0000 0000 0000 0000 0000", "CN", "", true},
		{"abcdefg", "CN", "", true},
		{"+999 1234 5678", "CN", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Normalize(tt.in, tt.region)
			if tt.err {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Normalize(%q) = %q, %v; want ErrInvalid", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Normalize(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
	if Mask("+8613800138000") != "+86138****8000" {
		t.Fatal(Mask("+8613800138000"))
	}
}
