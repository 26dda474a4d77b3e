package handlers

import (
	"context"
	"net/http"
	"time"
)

// Health serves /healthz: the process is up.
func Health(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Ready serves /readyz: every check must pass within a short timeout.
type Ready struct {
	Checks map[string]func(ctx context.Context) error
}

func (h *Ready) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	out := map[string]string{}
	status := http.StatusOK
	for name, check := range h.Checks {
		if err := check(ctx); err != nil {
			out[name] = "unavailable"
			status = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", "1")
		} else {
			out[name] = "ok"
		}
	}
	WriteJSON(w, status, out)
}

// storageDown reports whether healthy is set and the database does not answer.
func storageDown(ctx context.Context, healthy func(context.Context) error) bool {
	return healthy != nil && healthy(ctx) != nil
}
