package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestSmoke runs the benchmark briefly on SQLite over a few scenarios and checks the table: every
// scenario row has a rate, and the rows that carry a target say whether it is met.
func TestSmoke(t *testing.T) {
	*flagDuration, *flagWarmup, *flagConc, *flagMySQL, *flagCodes = 300*time.Millisecond, 0, 4, "", 50
	*flagOnly = "generated secret|chosen secret|authorization_code|sms|discovery"
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	table := out.String()
	t.Log(table)
	for _, want := range []string{
		"| sqlite | client_credentials, generated secret |", "| sqlite | client_credentials, chosen secret (argon2id) |",
		"| sqlite | authorization_code exchange (+ id_token) |", "| sqlite | sms: send a code + sign in (2 requests) |",
		"| sqlite | discovery |", "RSA-2048 signature (ceiling)", "argon2id 19 MiB t=2 (ceiling)",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	for _, line := range strings.Split(table, "\n") {
		if strings.HasPrefix(line, "| sqlite |") && strings.Contains(line, "≥") && !strings.HasSuffix(line, "| yes |") && !strings.HasSuffix(line, "| no |") {
			t.Errorf("a row with a target does not say whether it is met: %s", line)
		}
		if strings.HasPrefix(line, "| sqlite |") && strings.Contains(line, "| 0 | 0.0 ms |") {
			t.Errorf("a scenario measured nothing: %s", line)
		}
	}
}

func TestCompare(t *testing.T) {
	tests := []struct {
		rate, base, target float64
		wantRatio          float64
		wantMet            bool
	}{
		{900, 1000, 0.75, 0.9, true},
		{700, 1000, 0.75, 0.7, false},
		{5500, 1000, 5, 5.5, true},
	}
	for _, tt := range tests {
		rw := compare(row{result: result{ops: int(tt.rate), elapsed: time.Second}}, "x", tt.base, 0, tt.target, "")
		if diff := rw.ratio - tt.wantRatio; diff > 1e-9 || diff < -1e-9 || rw.met == nil || *rw.met != tt.wantMet {
			t.Errorf("compare(%v vs %v, ≥%v) = ratio %v met %v", tt.rate, tt.base, tt.target, rw.ratio, rw.met)
		}
	}
}
