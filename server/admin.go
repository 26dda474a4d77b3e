package server

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/lingpai/lingpai/handlers"
	"github.com/lingpai/lingpai/internal/ops/metrics"
)

// adminRouter is what server.admin_addr serves: metrics for the scraper and the probes for an
// orchestrator that sits on the private network, none of it reachable from the public address.
func adminRouter(met *metrics.Metrics, ready http.Handler) http.Handler {
	r := mux.NewRouter()
	r.Handle("/metrics", met.Handler()).Methods(http.MethodGet)
	r.HandleFunc("/healthz", handlers.Health).Methods(http.MethodGet)
	r.Handle("/readyz", ready).Methods(http.MethodGet)
	return r
}
