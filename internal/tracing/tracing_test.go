package tracing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/internal/reqctx"
	"github.com/lingpai/lingpai/internal/tracing"
	"github.com/lingpai/lingpai/server"
	"github.com/lingpai/lingpai/storage"
)

// TestTokenRequestSpans: one client_credentials token request makes one server span and, inside
// the same trace, a child span per database statement it ran (the client lookup, the token
// write) and fosite's own spans; log records inside the request carry its trace_id.
func TestTokenRequestSpans(t *testing.T) {
	ctx := context.Background()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer func() { _ = tp.Shutdown(ctx) }()

	var handler http.Handler
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	defer hs.Close()
	cfg := config.Default()
	cfg.Server.Issuer = hs.URL
	cfg.Tokens.Format = "opaque" // the token is written to the database, so there is a write span
	cfg.Database.DSN = filepath.Join(t.TempDir(), "lingpai.db")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	st, err := storage.Open(storage.Options{Driver: "sqlite", DSN: cfg.Database.DSN, DefaultAudience: []string{hs.URL + "/resources"}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx, server.Models()...); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateClient(ctx, &storage.Client{ID: "svc", Name: "svc", SecretHash: hashing.HashGenerated([]byte("svc-secret")),
		GrantTypes: storage.StringList{"client_credentials"}, Scopes: storage.StringList{"api1"}}); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	logger := slog.New(tracing.LogHandler(reqctx.Handler(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	app, err := server.New(ctx, cfg, st, logger)
	if err != nil {
		t.Fatal(err)
	}
	if handler, err = tracing.Instrument(app.Handler, st.DB(ctx), tp); err != nil {
		t.Fatal(err)
	}
	exp.Reset() // start-up statements (key generation) ran outside any request: none recorded anyway

	req, _ := http.NewRequest(http.MethodPost, hs.URL+"/connect/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"api1"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc", "svc-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 200 || body["access_token"] == nil {
		t.Fatalf("token request: %d %v", resp.StatusCode, body)
	}

	spans := exp.GetSpans()
	var root *tracetest.SpanStub
	for i := range spans {
		if spans[i].SpanKind == trace.SpanKindServer {
			if root != nil {
				t.Fatalf("two server spans: %q and %q", root.Name, spans[i].Name)
			}
			root = &spans[i]
		}
	}
	if root == nil || root.Name != "POST /connect/token" {
		t.Fatalf("no server span for POST /connect/token in %v", names(spans))
	}
	var queries, writes int
	for _, s := range spans {
		if s.SpanKind != trace.SpanKindClient {
			continue
		}
		if s.SpanContext.TraceID() != root.SpanContext.TraceID() {
			t.Fatalf("span %q is in another trace", s.Name)
		}
		if !strings.HasPrefix(s.Name, "db.") {
			t.Fatalf("unexpected client span %q", s.Name)
		}
		for _, a := range s.Attributes {
			if a.Key == "db.statement" && strings.Contains(a.Value.AsString(), "svc-secret") {
				t.Fatalf("span %q carries the secret", s.Name)
			}
		}
		switch {
		case s.Name == "db.query clients":
			queries++
		case strings.HasPrefix(s.Name, "db.create access_tokens"):
			writes++
		}
	}
	if queries == 0 || writes != 1 {
		t.Fatalf("want a clients query and one access_tokens write among %v", names(spans))
	}
	if !strings.Contains(strings.Join(names(spans), " "), "Fosite.NewAccessRequest") {
		t.Fatalf("no span of fosite's token handling (it takes the tracer from the request span) in %v", names(spans))
	}
	if !strings.Contains(logs.String(), `"event":"token.issued"`) || !strings.Contains(logs.String(), `"trace_id":"`+root.SpanContext.TraceID().String()) {
		t.Fatalf("request logs do not carry trace_id %s: %s", root.SpanContext.TraceID(), logs.String())
	}
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

func TestSetupOffByDefault(t *testing.T) {
	c := config.Default().Tracing
	tp, shutdown, err := tracing.Setup(context.Background(), tracing.Config{OTLPEndpoint: c.OTLPEndpoint, ServiceName: c.ServiceName, SampleRatio: c.SampleRatio}, "dev")
	if tp != nil || err != nil || shutdown(context.Background()) != nil {
		t.Fatalf("tracing on without an endpoint: %v %v", tp, err)
	}
}

func TestLogHandlerAddsTraceID(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("t").Start(context.Background(), "s")
	defer span.End()
	var b bytes.Buffer
	slog.New(tracing.LogHandler(slog.NewJSONHandler(&b, nil))).InfoContext(ctx, "hello")
	if !strings.Contains(b.String(), `"trace_id":"`+span.SpanContext().TraceID().String()) {
		t.Fatalf("no trace_id: %s", b.String())
	}
}

func TestStartUpstreamSpan(t *testing.T) {
	if _, span := tracing.Start(context.Background(), "ldap.authenticate"); span.SpanContext().IsValid() {
		t.Fatal("a span outside any trace")
	}
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	ctx, root := tp.Tracer("t").Start(context.Background(), "POST /connect/token")
	errDown := errors.New("unavailable")
	_, span := tracing.Start(ctx, "ldap.authenticate")
	tracing.End(span, fmt.Errorf("bind: %w", errDown), errDown)
	_, span = tracing.Start(ctx, "ldap.authenticate")
	tracing.End(span, errors.New("wrong password"), errDown)
	root.End()
	spans := exp.GetSpans()
	if len(spans) != 3 || spans[0].Parent.SpanID() != root.SpanContext().SpanID() || spans[0].SpanKind != trace.SpanKindClient {
		t.Fatalf("spans %v", names(spans))
	}
	if spans[0].Status.Code != codes.Error || spans[1].Status.Code == codes.Error {
		t.Fatalf("outage status %v, wrong-password status %v", spans[0].Status, spans[1].Status)
	}
}
