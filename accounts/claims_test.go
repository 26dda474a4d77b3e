package accounts

import (
	"reflect"
	"testing"

	"github.com/lingpai/lingpai/storage"
)

func TestAddStoredClaims(t *testing.T) {
	tests := []struct {
		name   string
		own    map[string]any
		stored []storage.UserClaim
		want   map[string]any
	}{
		{"one role is a string", map[string]any{}, []storage.UserClaim{{Type: "role", Value: "admin"}}, map[string]any{"role": "admin"}},
		{"several become a list", map[string]any{}, []storage.UserClaim{{Type: "role", Value: "admin"}, {Type: "role", Value: "ops"}},
			map[string]any{"role": []string{"admin", "ops"}}},
		{"the account's own claim wins", map[string]any{"name": "Alice"}, []storage.UserClaim{{Type: "name", Value: "Mallory"}},
			map[string]any{"name": "Alice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addStoredClaims(tt.own, tt.stored)
			if !reflect.DeepEqual(tt.own, tt.want) {
				t.Fatalf("got %v, want %v", tt.own, tt.want)
			}
		})
	}
}
