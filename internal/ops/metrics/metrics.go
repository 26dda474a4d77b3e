package metrics

import (
	"database/sql"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every lingpai metric.
const Namespace = "lingpai"

// Metrics holds lingpai's collectors and the registry they live in. A nil *Metrics is valid and
// records nothing, so components can take one optionally.
type Metrics struct {
	Registry *prometheus.Registry

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	issued   *prometheus.CounterVec
	failed   *prometheus.CounterVec
	upLat    *prometheus.HistogramVec
	upErr    *prometheus.CounterVec
	swept    *prometheus.CounterVec
	inFlight prometheus.Gauge
}

// New creates the collectors on a fresh registry. db, when not nil, adds its pool statistics
// (open, in use, idle connections, waits) as go_sql_* series labelled db_name="lingpai".
func New(db *sql.DB) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "http_requests_total",
			Help: "HTTP requests by route template, method and status code.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "http_request_duration_seconds",
			Help: "HTTP request latency by route template.",
			// Password hashing puts the token endpoint around 50-300 ms; the buckets resolve that band.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "tokens_issued_total",
			Help: "Successful token responses by grant type and (authenticated) client id.",
		}, []string{"grant_type", "client_id"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "token_failures_total",
			Help: "Failed token requests by grant type and OAuth error code.",
		}, []string{"grant_type", "error"}),
		upLat: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "upstream_duration_seconds",
			Help:    "Latency of calls to upstream services (ldap, wechat, sms) by operation and outcome.",
			Buckets: prometheus.DefBuckets,
		}, []string{"upstream", "operation", "outcome"}),
		upErr: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "upstream_errors_total",
			Help: "Failed calls to upstream services (the service was down or broken, not a wrong password).",
		}, []string{"upstream", "operation"}),
		swept: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "janitor_deleted_rows_total",
			Help: "Expired rows deleted by the janitor, by table.",
		}, []string{"table"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "http_requests_in_flight",
			Help: "Requests being served now; during a graceful shutdown it falls to zero.",
		}),
	}
	reg.MustRegister(m.requests, m.latency, m.issued, m.failed, m.upLat, m.upErr, m.swept, m.inFlight,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if db != nil {
		reg.MustRegister(collectors.NewDBStatsCollector(db, "lingpai"))
	}
	return m
}

// TxRetrySource is what WatchTxRetries reads: storage.Store's counters of transactions run again
// after a conflict and of those whose conflicts outlived the retries.
type TxRetrySource interface {
	TxRetries() (retried, gaveUp uint64)
}

// WatchTxRetries exports src's counters as lingpai_db_tx_retries_total and
// lingpai_db_tx_retries_exhausted_total, read at each scrape. On a Galera cluster they are the
// certification conflicts lingpai absorbed and the ones it answered 503.
func (m *Metrics) WatchTxRetries(src TxRetrySource) {
	if m == nil || src == nil {
		return
	}
	m.Registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: Namespace, Name: "db_tx_retries_total",
			Help: "Database transactions run again after a deadlock, lock timeout, write conflict or certification failure.",
		}, func() float64 { r, _ := src.TxRetries(); return float64(r) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: Namespace, Name: "db_tx_retries_exhausted_total",
			Help: "Database transactions still conflicting after the last retry (answered 503 temporarily_unavailable).",
		}, func() float64 { _, g := src.TxRetries(); return float64(g) }),
	)
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// TokenIssued counts a successful token response. clientID must be the authenticated client's
// id, never the unauthenticated value from the request, or anyone could mint label values.
func (m *Metrics) TokenIssued(grantType, clientID string) {
	if m == nil {
		return
	}
	m.issued.WithLabelValues(grantType, clientID).Inc()
}

// TokenFailed counts a failed token request. grantType must already be bounded by the caller
// (an enabled grant type, or "other") and code is an RFC 6749 error code.
func (m *Metrics) TokenFailed(grantType, code string) {
	if m == nil {
		return
	}
	m.failed.WithLabelValues(grantType, code).Inc()
}

// Swept counts rows the janitor deleted from table.
func (m *Metrics) Swept(table string, n int64) {
	if m == nil || n == 0 {
		return
	}
	m.swept.WithLabelValues(table).Add(float64(n))
}

// ObserveUpstream records one call to an upstream service that started at start and ended with
// err. Grants call it around directory binds, WeChat code exchanges and SMS sends:
//
//	start := time.Now()
//	err := conn.Bind(dn, password)
//	m.ObserveUpstream("ldap", "bind", start, upstreamErr(err))
//
// Pass a nil err for an answer that is a business "no" (wrong password): only an outage or a
// malfunction is an upstream error.
func (m *Metrics) ObserveUpstream(upstream, operation string, start time.Time, err error) {
	if m == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = "error"
		m.upErr.WithLabelValues(upstream, operation).Inc()
	}
	m.upLat.WithLabelValues(upstream, operation, outcome).Observe(time.Since(start).Seconds())
}
