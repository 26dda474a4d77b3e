package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
)

// CORS lets browser applications (single-page apps with a public client) call an endpoint across
// origins: a preflight (OPTIONS) and the answers carry Access-Control-Allow-Origin for an origin
// that Allowed accepts, never credentials mode (the endpoints take tokens and client credentials
// in headers and forms, not cookies). Other origins get no CORS headers, so the browser keeps the
// answer from the page. Every answer varies by Origin, for caches.
type CORS struct {
	// Allowed reports whether origin may call; nil allows any origin (public documents:
	// discovery and JWKS).
	Allowed func(ctx context.Context, origin string) (bool, error)
	// Methods are the endpoint's methods, as Access-Control-Allow-Methods lists them.
	Methods []string
	Logger  *slog.Logger
}

// corsAllowedHeaders are the request headers a page may send: credentials and the form type.
const corsAllowedHeaders = "Authorization, Content-Type"

// corsExposedHeaders are the answer headers a page may read (a Bearer challenge, a back-off).
const corsExposedHeaders = "WWW-Authenticate, Retry-After"

// Wrap returns next behind the CORS rules; OPTIONS requests are answered here.
func (c *CORS) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		allowed := origin != "" && c.allows(r.Context(), origin)
		if r.Method == http.MethodOptions {
			// A preflight: answered without running the endpoint. An origin not allowed gets no
			// CORS headers, and the browser refuses to send the real request.
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Allow", strings.Join(append([]string{http.MethodOptions}, c.Methods...), ", "))
			if allowed && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Methods", strings.Join(c.Methods, ", "))
				h.Set("Access-Control-Allow-Headers", corsAllowedHeaders)
				h.Set("Access-Control-Max-Age", "600")
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if allowed {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", corsExposedHeaders)
		}
		next.ServeHTTP(w, r)
	})
}

func (c *CORS) allows(ctx context.Context, origin string) bool {
	if c.Allowed == nil {
		return true
	}
	ok, err := c.Allowed(ctx, origin)
	if err != nil {
		// Refusing is safe: the page sees a network error and may retry.
		c.Logger.WarnContext(ctx, "cors: origin lookup failed", "error", err)
		return false
	}
	return ok
}
