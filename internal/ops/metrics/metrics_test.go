package metrics_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lingpai/lingpai/internal/ops/metrics"
)

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *metrics.Metrics
	m.TokenIssued("password", "c")
	m.TokenFailed("password", "invalid_grant")
	m.Swept("access_tokens", 3)
	m.ObserveUpstream("ldap", "bind", time.Now(), errors.New("down"))
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	if m.Instrument("/x", h) == nil || m.Middleware(h) == nil {
		t.Fatal("nil Metrics must pass handlers through")
	}
}

func TestUpstreamAndMethodLabels(t *testing.T) {
	m := metrics.New(nil)
	m.ObserveUpstream("ldap", "bind", time.Now(), nil)
	m.ObserveUpstream("ldap", "bind", time.Now(), errors.New("connection refused"))
	m.ObserveUpstream("wechat", "jscode2session", time.Now(), nil)
	h := m.Instrument("/connect/token", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(418) }))
	for _, method := range []string{"POST", "BREW", "GET"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(method, "/connect/token", nil))
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	tests := []string{
		`lingpai_upstream_errors_total{operation="bind",upstream="ldap"} 1`,
		`lingpai_upstream_duration_seconds_count{operation="bind",outcome="ok",upstream="ldap"} 1`,
		`lingpai_upstream_duration_seconds_count{operation="jscode2session",outcome="ok",upstream="wechat"} 1`,
		`lingpai_http_requests_total{method="other",route="/connect/token",status="418"} 1`,
		`lingpai_http_requests_total{method="POST",route="/connect/token",status="418"} 1`,
	}
	for _, want := range tests {
		if !strings.Contains(string(body), want) {
			t.Errorf("missing %s", want)
		}
	}
	if strings.Contains(string(body), "BREW") {
		t.Error("a client-chosen method became a label")
	}
}

type fixedRetries struct{ retried, gaveUp uint64 }

func (f fixedRetries) TxRetries() (uint64, uint64) { return f.retried, f.gaveUp }

func TestTxRetriesExported(t *testing.T) {
	m := metrics.New(nil)
	m.WatchTxRetries(fixedRetries{retried: 7, gaveUp: 2})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{"lingpai_db_tx_retries_total 7", "lingpai_db_tx_retries_exhausted_total 2"} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("missing %q in\n%s", want, rec.Body.String())
		}
	}
	var none *metrics.Metrics
	none.WatchTxRetries(fixedRetries{}) // a nil Metrics records nothing, and does not panic
}
