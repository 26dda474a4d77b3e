// Package reqctx carries request-scoped facts (request id, client IP) and the fields of the one
// log line written per request, so that handlers deep in fosite's call chain can add to it.
package reqctx

import (
	"context"
	"log/slog"
	"sync"
)

type key struct{}

// Info is what one request knows about itself.
type Info struct {
	RequestID string
	ClientIP  string

	mu    sync.Mutex
	attrs []slog.Attr
}

// With returns ctx carrying info.
func With(ctx context.Context, info *Info) context.Context {
	return context.WithValue(ctx, key{}, info)
}

// From returns the request's Info, or an empty one outside a request.
func From(ctx context.Context) *Info {
	if i, ok := ctx.Value(key{}).(*Info); ok {
		return i
	}
	return &Info{}
}

// Add attaches fields to the request's log line (grant_type, client_id, outcome, ...). Callers
// must never add secrets, passwords, codes or tokens.
func (i *Info) Add(attrs ...slog.Attr) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.attrs = append(i.attrs, attrs...)
}

// Attrs returns the fields added so far.
func (i *Info) Attrs() []slog.Attr {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]slog.Attr(nil), i.attrs...)
}
