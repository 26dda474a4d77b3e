// Package tracing is lingpai's OpenTelemetry: a tracer provider exporting over OTLP/HTTP when
// tracing.otlp_endpoint is set (nothing at all otherwise), a span per HTTP request (otelhttp), a
// span per database statement (GORM callbacks, so storage needs no change), and trace_id/span_id
// on every log record written inside a span.
//
// Nothing here touches OpenTelemetry's global provider or propagator: the provider is passed to
// what uses it, so two servers in one test process do not share spans.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"
)

// Config is the tracing section (config.Tracing), restated so upstream clients can import this
// package without importing config, which imports them.
type Config struct {
	OTLPEndpoint string
	ServiceName  string
	SampleRatio  float64
}

// Setup returns the tracer provider for cfg and a shutdown that flushes it; nil and a no-op
// shutdown when tracing is off.
func Setup(ctx context.Context, cfg Config, version string) (trace.TracerProvider, func(context.Context) error, error) {
	noop := func(context.Context) error { return nil }
	if cfg.OTLPEndpoint == "" {
		return nil, noop, nil
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(tracesURL(cfg.OTLPEndpoint)))
	if err != nil {
		return nil, noop, fmt.Errorf("tracing.otlp_endpoint: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		semconv.ServiceName(cfg.ServiceName), semconv.ServiceVersion(version)))
	if err != nil {
		return nil, noop, fmt.Errorf("tracing: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))))
	return tp, tp.Shutdown, nil
}

// tracesURL adds OTLP/HTTP's /v1/traces to a collector's base URL, as OTEL_EXPORTER_OTLP_ENDPOINT
// does; a URL with a path of its own is used as it is.
func tracesURL(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Path != "" && u.Path != "/") {
		return endpoint
	}
	u.Path = "/v1/traces"
	return u.String()
}

// Propagator reads and writes W3C traceparent/tracestate headers.
var propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// Instrument wraps h in a server span per request and makes every statement run through db (and
// every session derived from it) a child span of the request's.
func Instrument(h http.Handler, db *gorm.DB, tp trace.TracerProvider) (http.Handler, error) {
	if err := registerGORM(db, tp.Tracer("github.com/lingpai/lingpai/storage")); err != nil {
		return nil, err
	}
	return otelhttp.NewHandler(h, "lingpai",
		otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(propagator),
		// The route, not the raw path: paths carry nothing secret here, but bounded span names
		// keep the tracing backend's indexes small.
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }),
	), nil
}

const spanKey = "lingpai:span"

// registerGORM adds before/after callbacks around each GORM operation.
func registerGORM(db *gorm.DB, tracer trace.Tracer) error {
	before := func(op string) func(*gorm.DB) {
		return func(tx *gorm.DB) {
			ctx := tx.Statement.Context
			if ctx == nil || !trace.SpanFromContext(ctx).SpanContext().IsValid() {
				return // a statement outside any request (janitor, admin command): no orphan spans
			}
			name := "db." + op
			if tx.Statement.Table != "" {
				name += " " + tx.Statement.Table
			}
			ctx, span := tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient),
				trace.WithAttributes(attribute.String("db.system", tx.Dialector.Name()), attribute.String("db.operation", op)))
			tx.Statement.Context = ctx
			tx.InstanceSet(spanKey, span)
		}
	}
	after := func(tx *gorm.DB) {
		v, ok := tx.InstanceGet(spanKey)
		if !ok {
			return
		}
		span := v.(trace.Span)
		// The statement with placeholders, never the values: they include token signatures.
		span.SetAttributes(attribute.String("db.statement", tx.Statement.SQL.String()),
			attribute.Int64("db.rows_affected", tx.Statement.RowsAffected))
		if err := tx.Error; err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
	cb := db.Callback()
	type hook struct {
		op       string
		register func(name string, fn func(*gorm.DB)) error
		after    func(name string, fn func(*gorm.DB)) error
	}
	hooks := []hook{
		{"create", cb.Create().Before("gorm:create").Register, cb.Create().After("gorm:create").Register},
		{"query", cb.Query().Before("gorm:query").Register, cb.Query().After("gorm:query").Register},
		{"update", cb.Update().Before("gorm:update").Register, cb.Update().After("gorm:update").Register},
		{"delete", cb.Delete().Before("gorm:delete").Register, cb.Delete().After("gorm:delete").Register},
		{"row", cb.Row().Before("gorm:row").Register, cb.Row().After("gorm:row").Register},
		{"raw", cb.Raw().Before("gorm:raw").Register, cb.Raw().After("gorm:raw").Register},
	}
	for _, h := range hooks {
		if err := h.register("lingpai:trace_before_"+h.op, before(h.op)); err != nil {
			return fmt.Errorf("tracing: gorm callback: %w", err)
		}
		if err := h.after("lingpai:trace_after_"+h.op, after); err != nil {
			return fmt.Errorf("tracing: gorm callback: %w", err)
		}
	}
	return nil
}

// Start starts a client span for a call to an upstream service (LDAP, SMS gateway, WeChat) under
// ctx's span, taken from that span's own provider, as fosite does: nothing to pass down to the
// upstream clients, and a no-op outside a traced request.
func Start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.SpanContext().IsValid() {
		return ctx, parent
	}
	return parent.TracerProvider().Tracer("github.com/lingpai/lingpai/upstream").Start(ctx, name,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// End ends a span from Start, marking it failed when err is one of the outage kinds (a wrong
// password is an answer, not a failure of the service); any other error is recorded as an event.
func End(span trace.Span, err error, outages ...error) {
	if err != nil {
		span.RecordError(err)
		for _, k := range outages {
			if errors.Is(err, k) {
				span.SetStatus(codes.Error, err.Error())
				break
			}
		}
		if len(outages) == 0 {
			span.SetStatus(codes.Error, err.Error())
		}
	}
	span.End()
}

// LogHandler adds trace_id and span_id to records logged with a context inside a span, so a log
// line leads to its trace and back.
func LogHandler(h slog.Handler) slog.Handler { return &logHandler{h} }

type logHandler struct{ slog.Handler }

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logHandler{h.Handler.WithAttrs(attrs)}
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{h.Handler.WithGroup(name)}
}
