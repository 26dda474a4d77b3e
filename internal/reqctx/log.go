package reqctx

import (
	"context"
	"log/slog"
)

// Handler wraps h so that every record logged with a request's context carries that request's
// request_id and, once known, its client_id: audit events (signin.failed, token.revoked, ...)
// are written deep in fosite's call chain, where those fields are not at hand, and an operator
// must be able to join each event to its request line.
func Handler(h slog.Handler) slog.Handler { return &handler{h} }

type handler struct{ slog.Handler }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	info, ok := ctx.Value(key{}).(*Info)
	if !ok || info.RequestID == "" {
		return h.Handler.Handle(ctx, r)
	}
	var hasID, hasClient bool
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "request_id":
			hasID = true
		case "client_id":
			hasClient = true
		}
		return true
	})
	if !hasID {
		r.AddAttrs(slog.String("request_id", info.RequestID))
	}
	if !hasClient {
		if c := info.lookup("client_id"); c.Key != "" {
			r.AddAttrs(c)
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &handler{h.Handler.WithAttrs(attrs)}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{h.Handler.WithGroup(name)}
}

// lookup returns the last field named k added to the request's line, or a zero Attr.
func (i *Info) lookup(k string) slog.Attr {
	i.mu.Lock()
	defer i.mu.Unlock()
	for j := len(i.attrs) - 1; j >= 0; j-- {
		if i.attrs[j].Key == k {
			return i.attrs[j]
		}
	}
	return slog.Attr{}
}
