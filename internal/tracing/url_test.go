package tracing

import "testing"

func TestTracesURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://otel:4318":               "http://otel:4318/v1/traces",
		"http://otel:4318/":              "http://otel:4318/v1/traces",
		"https://otel.example/v1/traces": "https://otel.example/v1/traces",
		"https://gw.example/otlp/traces": "https://gw.example/otlp/traces",
	} {
		if got := tracesURL(in); got != want {
			t.Errorf("tracesURL(%q) = %q, want %q", in, got, want)
		}
	}
}
