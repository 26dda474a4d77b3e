package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/lingpai/lingpai/internal/reqctx"
	"github.com/lingpai/lingpai/internal/statusrec"
	"github.com/ory/fosite"
)

// Middleware wraps every request: request id, client IP, a body cap, panic recovery and exactly
// one structured log line.
type Middleware struct {
	Logger         *slog.Logger
	MaxBodyBytes   int64
	TrustedProxies []*net.IPNet
	// Limit sheds requests beyond server.max_in_flight; nil serves every request at once.
	Limit *Limiter
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Wrap returns next wrapped.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !requestIDPattern.MatchString(id) {
			id = newRequestID()
		}
		info := &reqctx.Info{RequestID: id, ClientIP: m.clientIP(r)}
		w.Header().Set("X-Request-Id", id)
		r = r.WithContext(reqctx.With(r.Context(), info))
		if r.Body != nil && m.MaxBodyBytes > 0 {
			r.Body = http.MaxBytesReader(w, r.Body, m.MaxBodyBytes)
		}
		sw := statusrec.New(w)
		defer func() {
			if p := recover(); p != nil {
				m.Logger.ErrorContext(r.Context(), "panic", "request_id", id, "panic", p, "stack", string(debug.Stack()))
				if !sw.Wrote {
					WriteError(sw, fosite.ErrServerError)
				}
			}
			level := slog.LevelInfo
			switch {
			case sw.Status >= 500:
				level = slog.LevelError
			case sw.Status >= 400:
				level = slog.LevelWarn
			}
			attrs := []slog.Attr{
				slog.String("request_id", id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", sw.Status), slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
				slog.String("client_ip", info.ClientIP),
			}
			attrs = append(attrs, info.Attrs()...)
			m.Logger.LogAttrs(r.Context(), level, "request", attrs...)
		}()
		if m.Limit != nil && !exempt(r.URL.Path) {
			if !m.Limit.acquire(r.Context()) {
				info.Add(slog.String("outcome", "shed"))
				WriteError(sw, errOverloaded)
				return
			}
			defer m.Limit.release()
		}
		next.ServeHTTP(sw, r)
	})
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// clientIP is the TCP peer, or the right-most untrusted address of X-Forwarded-For when the peer
// is a trusted proxy: that is the last address a proxy we trust saw.
func (m *Middleware) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if !m.trusted(host) {
		return host
	}
	hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if net.ParseIP(h) == nil {
			break
		}
		if !m.trusted(h) {
			return h
		}
	}
	return host
}

func (m *Middleware) trusted(ip string) bool {
	p := net.ParseIP(ip)
	if p == nil {
		return false
	}
	for _, n := range m.TrustedProxies {
		if n.Contains(p) {
			return true
		}
	}
	return false
}
