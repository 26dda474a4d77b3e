package storage_test

import (
	"testing"

	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/conformance"
	"github.com/lingpai/lingpai/storage/storagetest"
)

// TestConformance runs the one storage suite on every backend.
func TestConformance(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			conformance.RunTests(t, func(t *testing.T, opts storage.Options) *storage.Store { return b.Open(t, opts) })
		})
	}
}
