package cli

import "testing"

func TestLoopbackIssuerWarning(t *testing.T) {
	tests := []struct {
		issuer, addr string
		warn         bool
	}{
		{"http://127.0.0.1:8080", "0.0.0.0:8080", true}, // the Docker image's default before a real issuer is set
		{"http://localhost:8080", ":8080", true},
		{"http://[::1]:8080", "[::]:8080", true},
		{"http://127.0.0.1:8080", "127.0.0.1:8080", false}, // the out-of-the-box default: consistent
		{"https://id.example.com", "0.0.0.0:8080", false},
		{"http://10.0.0.5:8080", ":8080", false},
	}
	for _, tt := range tests {
		if got := loopbackIssuer(tt.issuer, tt.addr) != ""; got != tt.warn {
			t.Errorf("loopbackIssuer(%q, %q) warns %v, want %v", tt.issuer, tt.addr, got, tt.warn)
		}
	}
}
