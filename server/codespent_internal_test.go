package server

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/storage"
)

func TestCodeSpent(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"storage lost the compare-and-set", fmt.Errorf("%w: %w", fosite.ErrSerializationFailure, storage.ErrCodeUsed), true},
		{"fosite's second read found the code used", fosite.ErrServerError.WithWrap(fosite.ErrInvalidatedAuthorizeCode), true},
		{"any other server error", fosite.ErrServerError.WithWrap(errors.New("disk on fire")), false},
		{"a refresh reuse", storage.ErrTokenReused, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := codeSpent(tt.err); got != tt.want {
				t.Fatalf("codeSpent(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
