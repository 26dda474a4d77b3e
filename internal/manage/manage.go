// Package manage holds the rules for changing clients and users, shared by the admin API
// (internal/adminapi) and the CLI: one copy of the validation, so the two cannot disagree.
package manage

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/internal/keys"
	"github.com/lingpai/lingpai/storage"
)

// Scopes that grant the admin API: full and read-only.
const (
	ScopeAdmin     = "lingpai:admin"
	ScopeAdminRead = "lingpai:admin.read"
)

// MinSecretLength is the shortest client secret an operator may choose (generated ones are 43).
const MinSecretLength = 16

// Invalid is bad input, naming the field (JSON name) it concerns.
type Invalid struct {
	Field  string
	Detail string
}

func (e *Invalid) Error() string { return e.Field + ": " + e.Detail }

func invalid(field, format string, args ...any) error {
	return &Invalid{Field: field, Detail: fmt.Sprintf(format, args...)}
}

// Errors the API maps to statuses.
var (
	ErrNotFound = errors.New("manage: not found")
	ErrExists   = errors.New("manage: already exists")
	ErrStale    = errors.New("manage: the resource changed since it was read (stale ETag)")
)

// IsUnavailable reports a database that cannot answer (the API says 503, retry later).
func IsUnavailable(err error) bool { return storage.IsUnavailable(err) }

// Service applies the rules. Accounts may be nil for callers that manage clients only.
type Service struct {
	Store    *storage.Store
	Config   *config.Config
	Accounts *accounts.Service
	Hasher   hashing.Hasher
	Keyring  *keys.Keyring // refreshed after a key change; nil in the CLI
	Logger   *slog.Logger
	Now      func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
