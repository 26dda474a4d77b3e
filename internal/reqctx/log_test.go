package reqctx

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

func TestHandlerAddsRequestFields(t *testing.T) {
	withClient := &Info{RequestID: "req-1"}
	withClient.Add(slog.String("client_id", "app"))
	tests := []struct {
		name string
		ctx  context.Context
		args []any
		want map[string]any // fields that must be present (nil value: must be absent)
	}{
		{"outside a request nothing is added", context.Background(), nil, map[string]any{"request_id": nil, "client_id": nil}},
		{"request id and known client", With(context.Background(), withClient), nil, map[string]any{"request_id": "req-1", "client_id": "app"}},
		{"client not yet known", With(context.Background(), &Info{RequestID: "req-2"}), nil, map[string]any{"request_id": "req-2", "client_id": nil}},
		{"the caller's own fields win", With(context.Background(), withClient), []any{"request_id", "own", "client_id", "other"}, map[string]any{"request_id": "own", "client_id": "other"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			slog.New(Handler(slog.NewJSONHandler(&buf, nil))).With("svc", "lingpai").InfoContext(tt.ctx, "x", tt.args...)
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("%v: %s", err, buf.String())
			}
			for k, v := range tt.want {
				if got, ok := rec[k]; (v == nil && ok) || (v != nil && got != v) {
					t.Fatalf("%s = %v, want %v (%s)", k, got, v, buf.String())
				}
			}
			if bytes.Count(buf.Bytes(), []byte(`"request_id"`)) > 1 {
				t.Fatalf("duplicated field: %s", buf.String())
			}
		})
	}
}
