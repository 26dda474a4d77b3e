package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/lingpai/lingpai/internal/statusrec"
)

// Unmatched is the route label of requests no route matched (404, 405), so scanners probing
// random paths add one series, not one per path.
const Unmatched = "unmatched"

// Middleware is a gorilla/mux middleware (router.Use) that counts requests by the matched
// route's template (/connect/token), never by the raw path.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := Unmatched
		if cr := mux.CurrentRoute(r); cr != nil {
			if tpl, err := cr.GetPathTemplate(); err == nil {
				route = tpl
			}
		}
		m.Instrument(route, next).ServeHTTP(w, r)
	})
}

// Instrument wraps h so its requests are counted under the fixed route label.
func (m *Metrics) Instrument(route string, h http.Handler) http.Handler {
	if m == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := statusrec.New(w)
		m.inFlight.Inc()
		defer func() {
			m.inFlight.Dec()
			m.requests.WithLabelValues(route, method(r.Method), strconv.Itoa(sw.Status)).Inc()
			m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
		}()
		h.ServeHTTP(sw, r)
	})
}

// method bounds the method label: clients can send any token as a method.
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodPatch:
		return m
	}
	return "other"
}
