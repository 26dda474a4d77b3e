// Refresh token rotation in three round trips: the token read (joined with its user's state),
// the successor's insert, and the compare-and-set that retires the presented token.

package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ory/fosite"
	"gorm.io/gorm"

	"github.com/lingpai/lingpai/internal/session"
)

// refreshWithAccount is a refresh token row read together with the state of the user it names,
// so the refresh guard needs no second read (the join finds nothing for a client's own token).
type refreshWithAccount struct {
	Row                requestRow `gorm:"embedded"`
	AccountID          *string
	AccountDisabled    *bool
	AccountLockedUntil *time.Time
}

// getRefresh loads a refresh token row and its user's state in one statement.
func (s *Store) getRefresh(ctx context.Context, signature string) (*requestRow, *session.Account, error) {
	var row refreshWithAccount
	db := s.db(ctx)
	q := db.Statement.Quote
	err := db.Table(tblRefresh+" AS t").
		Select("t.*, "+q("u.id")+" AS account_id, "+q("u.disabled")+" AS account_disabled, "+q("l.until")+" AS account_locked_until").
		Joins("LEFT JOIN "+q("users")+" u ON "+q("u.id")+" = "+q("t.subject")).
		Joins("LEFT JOIN "+q("user_lockouts")+" l ON "+q("l.user_id")+" = "+q("t.subject")).
		Where(q("t.signature")+" = ?", key(signature)).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("storage: get from %s: %w", tblRefresh, err)
	}
	acct := &session.Account{Subject: row.Row.Subject, Found: row.AccountID != nil}
	if row.AccountDisabled != nil {
		acct.Disabled = *row.AccountDisabled
	}
	if row.AccountLockedUntil != nil {
		acct.Locked = s.now().Before(*row.AccountLockedUntil)
	}
	return &row.Row, acct, nil
}

// Rotation is one refresh: the presented refresh token and its successors.
type Rotation struct {
	RequestID string
	Presented string // signature of the refresh token presented
	// AccessSignature and Access are the new access token; an empty signature stores none (a
	// JWT under StatelessAccessTokens).
	AccessSignature  string
	Access           fosite.Requester
	RefreshSignature string
	Refresh          fosite.Requester
}

// RotateRefresh replaces the presented refresh token with its successors, without a transaction:
// it inserts the successors (unreachable until the response carries them), then retires the
// presented token by compare-and-set, then (stored access tokens) deletes the presented token's
// access token. A crash in between leaves unreachable rows, never a spent token without a
// successor. Of two concurrent
// refreshes, the compare-and-set lets one through (on Galera, certification fails the other's
// write, which is then reported as zero rows); the loser deletes what it inserted and, as any
// reuse (RFC 9700 section 4.14.2), revokes the family and fails with ErrTokenReused.
func (s *Store) RotateRefresh(ctx context.Context, r Rotation) error {
	var inserted []func(context.Context) error
	undo := func() {
		for _, del := range inserted {
			_ = del(ctx) // best effort: the family revocation below deactivates them anyway
		}
	}
	if r.AccessSignature != "" && !s.opts.StatelessAccessTokens {
		row, err := s.toRow(r.AccessSignature, r.Access, fosite.AccessToken)
		if err != nil {
			return err
		}
		if err := s.create(ctx, tblAccess, row); err != nil {
			return err
		}
		inserted = append(inserted, func(ctx context.Context) error { return s.delete(ctx, tblAccess, r.AccessSignature) })
	}
	row, err := s.toRow(r.RefreshSignature, r.Refresh, fosite.RefreshToken)
	if err != nil {
		undo()
		return err
	}
	if r.AccessSignature != "" && !s.opts.StatelessAccessTokens {
		row.AccessSignature = key(r.AccessSignature)
	}
	if err := s.create(ctx, tblRefresh, row); err != nil {
		undo()
		return err
	}
	inserted = append(inserted, func(ctx context.Context) error { return s.delete(ctx, tblRefresh, r.RefreshSignature) })
	k := key(r.Presented)
	res := s.db(ctx).Table(tblRefresh).Where("signature = ? AND active = ?", k, true).Update("active", false)
	if res.Error != nil && !s.racing(res.Error) {
		undo()
		return fmt.Errorf("storage: rotate refresh token: %w", res.Error)
	}
	if res.Error != nil || res.RowsAffected == 0 {
		// A concurrent use won (or, on MySQL and Galera, conflicted on this very row): reuse.
		undo()
		s.afterRollback(ctx, func(ctx context.Context) { s.revokeReusedFamily(ctx, r.RequestID) })
		if res.Error != nil {
			return fmt.Errorf("%w: %w: %w", fosite.ErrSerializationFailure, ErrTokenReused, res.Error)
		}
		return fmt.Errorf("%w: %w", fosite.ErrSerializationFailure, ErrTokenReused)
	}
	if !s.opts.StatelessAccessTokens {
		s.retireAccessToken(ctx, k)
	}
	return nil
}

// retireAccessToken deletes the access token issued with a retired refresh token, by primary key
// from a subquery (a range delete by request_id would take gap locks). Only the winner of the
// compare-and-set gets here, so it never meets a concurrent refresh of the same token (on
// Galera, two nodes deleting one row would fail one of them at certification). Best effort:
// the successors are stored and the presented token is spent, so the refresh must succeed; an
// access token that outlives it still expires (and dies with its family).
func (s *Store) retireAccessToken(ctx context.Context, refreshKey string) {
	err := s.db(ctx).Table(tblAccess).
		Where("signature = (?)", s.db(ctx).Table(tblRefresh).Select("access_signature").Where("signature = ?", refreshKey)).
		Delete(&requestRow{}).Error
	if err != nil && s.opts.Logger != nil {
		s.opts.Logger.WarnContext(ctx, "refresh: the previous access token was not deleted; it stays valid until it expires",
			"event", "token.retire_failed", "error", err.Error())
	}
}
