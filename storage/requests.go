package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"
	"gorm.io/gorm"

	"github.com/lingpai/lingpai/internal/session"
)

// farFuture stands in for "never expires" without a zero or NULL date (TiDB rejects zero dates).
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// key turns a token signature into the row key: the stored value is a hash, so a database leak
// does not even reveal the signatures.
func key(signature string) string {
	sum := sha256.Sum256([]byte(signature))
	return hex.EncodeToString(sum[:])
}

func (s *Store) toRow(signature string, req fosite.Requester, tokenType fosite.TokenType) (requestRow, error) {
	sess, err := json.Marshal(req.GetSession())
	if err != nil {
		return requestRow{}, fmt.Errorf("storage: encode session: %w", err)
	}
	exp := farFuture
	subject := ""
	if ss := req.GetSession(); ss != nil {
		if t := ss.GetExpiresAt(tokenType); !t.IsZero() {
			exp = t.UTC()
		}
		subject = ss.GetSubject()
	}
	now := s.now()
	return requestRow{
		Signature:       key(signature),
		RequestID:       req.GetID(),
		RequestedAt:     req.GetRequestedAt().UTC(),
		ClientID:        req.GetClient().GetID(),
		Subject:         subject,
		Scopes:          strings.Join(req.GetRequestedScopes(), " "),
		GrantedScopes:   strings.Join(req.GetGrantedScopes(), " "),
		Audience:        strings.Join(req.GetRequestedAudience(), " "),
		GrantedAudience: strings.Join(req.GetGrantedAudience(), " "),
		Form:            req.GetRequestForm().Encode(),
		Session:         sess,
		Active:          true,
		ExpiresAt:       exp,
		CreatedAt:       now,
	}, nil
}

func (s *Store) fromRow(ctx context.Context, r *requestRow, sess fosite.Session) (*fosite.Request, error) {
	client, err := s.GetClient(ctx, r.ClientID)
	if err != nil {
		return nil, err // a deleted client takes its tokens with it
	}
	if sess == nil {
		sess = session.New()
	}
	if err := json.Unmarshal(r.Session, sess); err != nil {
		return nil, fmt.Errorf("storage: decode session: %w", err)
	}
	form, err := url.ParseQuery(r.Form)
	if err != nil {
		return nil, fmt.Errorf("storage: decode form: %w", err)
	}
	return &fosite.Request{
		ID:                r.RequestID,
		RequestedAt:       r.RequestedAt,
		Client:            client,
		RequestedScope:    fields(r.Scopes),
		GrantedScope:      fields(r.GrantedScopes),
		RequestedAudience: fields(r.Audience),
		GrantedAudience:   fields(r.GrantedAudience),
		Form:              form,
		Session:           sess,
	}, nil
}

func fields(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Fields(s)
}

const (
	tblAccess  = "access_tokens"
	tblRefresh = "refresh_tokens"
	tblCode    = "authorize_codes"
	tblPKCE    = "pkce_requests"
	tblOIDC    = "oidc_sessions"
)

func (s *Store) create(ctx context.Context, table string, row requestRow) error {
	if err := s.db(ctx).Table(table).Create(&row).Error; err != nil {
		return s.txErr(ctx, "create in "+table, err)
	}
	return nil
}

// get loads a row; missing means fosite.ErrNotFound.
func (s *Store) get(ctx context.Context, table string, signature string) (*requestRow, error) {
	var row requestRow
	err := s.db(ctx).Table(table).Where("signature = ?", key(signature)).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: get from %s: %w", table, err)
	}
	return &row, nil
}

// load returns the request of a row; an inactive row returns it together with inactiveErr,
// because fosite needs the request to revoke what was issued from a reused code or token.
func (s *Store) load(ctx context.Context, table, signature string, sess fosite.Session, inactiveErr error) (fosite.Requester, error) {
	row, err := s.get(ctx, table, signature)
	if err != nil {
		return nil, err
	}
	req, err := s.fromRow(ctx, row, sess)
	if err != nil {
		return nil, err
	}
	if !row.Active {
		return req, inactiveErr
	}
	return req, nil
}

// delete removes a row. Concurrent refreshes of one token delete the same rows, and MySQL can
// pick one of them as a deadlock victim: that is a lost race, answered "retry", not a server error.
func (s *Store) delete(ctx context.Context, table string, signature string) error {
	if err := s.db(ctx).Table(table).Where("signature = ?", key(signature)).Delete(&requestRow{}).Error; err != nil {
		return s.txErr(ctx, "delete from "+table, err)
	}
	return nil
}

// --- oauth2.AuthorizeCodeStorage

// CreateAuthorizeCodeSession stores an authorization code's request.
func (s *Store) CreateAuthorizeCodeSession(ctx context.Context, code string, req fosite.Requester) error {
	row, err := s.toRow(code, req, fosite.AuthorizeCode)
	if err != nil {
		return err
	}
	return s.create(ctx, tblCode, row)
}

// GetAuthorizeCodeSession returns the code's request; a used code returns the request together
// with fosite.ErrInvalidatedAuthorizeCode so fosite can revoke what was issued from it.
func (s *Store) GetAuthorizeCodeSession(ctx context.Context, code string, sess fosite.Session) (fosite.Requester, error) {
	return s.load(ctx, tblCode, code, sess, fosite.ErrInvalidatedAuthorizeCode)
}

// ErrCodeUsed is wrapped into the error of a code redemption that lost to a concurrent redemption
// of the same code (zero rows flipped, or on Galera a certification failure at commit).
var ErrCodeUsed = errors.New("storage: authorization code already used")

// InvalidateAuthorizeCodeSession marks a code used. It is compare-and-set: of two concurrent
// redemptions only one flips the flag; the other gets ErrSerializationFailure (wrapping
// ErrCodeUsed). On Galera both may flip it on their own node; certification then fails one of
// them at COMMIT, and Commit reports that the same way.
func (s *Store) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	res := s.db(ctx).Table(tblCode).Where("signature = ? AND active = ?", key(code), true).Update("active", false)
	if res.Error != nil {
		if s.racing(res.Error) {
			return fmt.Errorf("%w: %w: %w", fosite.ErrSerializationFailure, ErrCodeUsed, res.Error)
		}
		return fmt.Errorf("storage: invalidate code: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("%w: %w", fosite.ErrSerializationFailure, ErrCodeUsed)
	}
	noteInTx(ctx, func(st *txState) { st.redeemed = true })
	return nil
}

// --- oauth2.AccessTokenStorage

// CreateAccessTokenSession stores an access token's request; with StatelessAccessTokens it stores
// nothing (the JWT is its own record; token_revocations stops it early).
func (s *Store) CreateAccessTokenSession(ctx context.Context, signature string, req fosite.Requester) error {
	if s.opts.StatelessAccessTokens {
		return nil
	}
	row, err := s.toRow(signature, req, fosite.AccessToken)
	if err != nil {
		return err
	}
	return s.create(ctx, tblAccess, row)
}

// GetAccessTokenSession loads an access token's request.
func (s *Store) GetAccessTokenSession(ctx context.Context, signature string, sess fosite.Session) (fosite.Requester, error) {
	row, err := s.get(ctx, tblAccess, signature)
	if err != nil {
		return nil, err
	}
	if !row.Active {
		return nil, fosite.ErrInactiveToken
	}
	return s.fromRow(ctx, row, sess)
}

// DeleteAccessTokenSession deletes one access token.
func (s *Store) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	return s.delete(ctx, tblAccess, signature)
}

// --- oauth2.RefreshTokenStorage

// CreateRefreshTokenSession stores a refresh token's request, linked to its access token.
func (s *Store) CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, req fosite.Requester) error {
	row, err := s.toRow(signature, req, fosite.RefreshToken)
	if err != nil {
		return err
	}
	if accessSignature != "" {
		row.AccessSignature = key(accessSignature)
	}
	return s.create(ctx, tblRefresh, row)
}

// GetRefreshTokenSession loads a refresh token's request; a used (rotated or revoked) token
// returns the request with fosite.ErrInactiveToken, which triggers reuse detection.
// The session carries the state of the token's user, read in the same statement, for the refresh
// guard (session.Account).
func (s *Store) GetRefreshTokenSession(ctx context.Context, signature string, sess fosite.Session) (fosite.Requester, error) {
	row, acct, err := s.getRefresh(ctx, signature)
	if err != nil {
		return nil, err
	}
	req, err := s.fromRow(ctx, row, sess)
	if err != nil {
		return nil, err
	}
	if ss, ok := req.Session.(*session.Session); ok {
		ss.Account = acct
	}
	if !row.Active {
		return req, fosite.ErrInactiveToken
	}
	return req, nil
}

// DeleteRefreshTokenSession deletes one refresh token.
func (s *Store) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	return s.delete(ctx, tblRefresh, signature)
}

// ErrTokenReused is wrapped into the error of a refresh whose token had already been used by a
// concurrent request: the family has been revoked.
var ErrTokenReused = errors.New("storage: refresh token already used; token family revoked")

// RotateRefreshToken retires the presented refresh token and the family's access tokens. Retiring
// is compare-and-set: when the token is no longer active (a concurrent refresh won), this is reuse
// (RFC 9700 section 4.14.2): the whole family is revoked once the failing transaction has rolled
// back, and the request fails.
func (s *Store) RotateRefreshToken(ctx context.Context, requestID string, signature string) error {
	k := key(signature)
	res := s.db(ctx).Table(tblRefresh).Where("signature = ? AND active = ?", k, true).Update("active", false)
	if res.Error != nil {
		// On MySQL a lock conflict here is a lost race on this very token row: a concurrent use of
		// it. SQLite's lock is the whole file (another process, a janitor batch), which says
		// nothing about this token: that is an unavailable database, not reuse.
		if s.racing(res.Error) {
			s.afterRollback(ctx, func(ctx context.Context) { s.revokeReusedFamily(ctx, requestID) })
			return fmt.Errorf("%w: %w: %w", fosite.ErrSerializationFailure, ErrTokenReused, res.Error)
		}
		return fmt.Errorf("storage: rotate refresh token: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		s.afterRollback(ctx, func(ctx context.Context) { s.revokeReusedFamily(ctx, requestID) })
		return fmt.Errorf("%w: %w", fosite.ErrSerializationFailure, ErrTokenReused)
	}
	noteInTx(ctx, func(st *txState) { st.rotated = requestID })
	if s.opts.StatelessAccessTokens {
		return nil // no access token row to retire
	}
	// Retire the access token issued with this refresh token, by primary key: a range delete by
	// request_id would take gap locks that deadlock against concurrent inserts on MySQL. One
	// statement (the key comes from a subquery on the other table), not a read and a delete:
	// every round trip is on every refresh. A refresh token without one matches no row ('').
	err := s.db(ctx).Table(tblAccess).
		Where("signature = (?)", s.db(ctx).Table(tblRefresh).Select("access_signature").Where("signature = ?", k)).
		Delete(&requestRow{}).Error
	if err != nil {
		return s.txErr(ctx, "rotate refresh token", err)
	}
	return nil
}

// txErr wraps a storage error; a deadlock or write conflict becomes fosite's serialization
// failure, which fosite answers with "retry" instead of a server error.
func (s *Store) txErr(ctx context.Context, op string, err error) error {
	if s.racing(err) {
		return s.lostRace(ctx, "storage: "+op, err)
	}
	return fmt.Errorf("storage: %s: %w", op, err)
}

// racing reports a conflict with another transaction. SQLite has one connection, so a busy or
// locked file there is another process holding it (an outage, answered 503), never a concurrent
// use of the same token: treating it as one would revoke a family for nothing.
func (s *Store) racing(err error) bool { return IsRetryable(err) && s.driver != "sqlite" }

// lostRace wraps a deadlock, write conflict or certification failure met by a transaction. When
// the transaction had already retired a refresh token or used an authorization code, the
// conflict is with a concurrent use of that same token or code: on Galera the other node's
// write set aborts this transaction at the next statement (a brute-force abort) or at COMMIT,
// instead of leaving zero rows to update as one server would. It is then reported exactly as
// the one-server loser is: ErrTokenReused (and the family revoked once the transaction has
// rolled back) or ErrCodeUsed.
func (s *Store) lostRace(ctx context.Context, op string, err error) error {
	var rotated string
	var redeemed bool
	noteInTx(ctx, func(st *txState) { rotated, redeemed = st.rotated, st.redeemed })
	switch {
	case rotated != "":
		s.afterRollback(ctx, func(ctx context.Context) { s.revokeReusedFamily(ctx, rotated) })
		noteInTx(ctx, func(st *txState) { st.rotated = "" }) // queue the revocation once
		return fmt.Errorf("%w: %w: %s: %w", fosite.ErrSerializationFailure, ErrTokenReused, op, err)
	case redeemed:
		return fmt.Errorf("%w: %w: %s: %w", fosite.ErrSerializationFailure, ErrCodeUsed, op, err)
	}
	return fmt.Errorf("%w: %s: %w", fosite.ErrSerializationFailure, op, err)
}

// --- oauth2.TokenRevocationStorage

// RevokeRefreshToken deactivates every refresh token of a grant (its family).
func (s *Store) RevokeRefreshToken(ctx context.Context, requestID string) error {
	if err := s.db(ctx).Table(tblRefresh).Where("request_id = ?", requestID).Update("active", false).Error; err != nil {
		return fmt.Errorf("storage: revoke refresh tokens: %w", err)
	}
	return nil
}

// RevokeAccessToken deletes every access token of a grant, and records the grant as revoked for
// the access tokens that have no row (StatelessAccessTokens, or issued while it was set).
func (s *Store) RevokeAccessToken(ctx context.Context, requestID string) error {
	return s.Transaction(ctx, func(ctx context.Context) error {
		if err := s.db(ctx).Table(tblAccess).Where("request_id = ?", requestID).Delete(&requestRow{}).Error; err != nil {
			return fmt.Errorf("storage: revoke access tokens: %w", err)
		}
		return s.revokeForHorizon(ctx, revokedGrant, requestID)
	})
}

// revokeReusedFamily revokes the family of a reused refresh token. It runs after the request's
// transaction rolled back, so its error has no caller: it is logged, since a family left alive
// after a detected reuse is a security event an operator must see.
func (s *Store) revokeReusedFamily(ctx context.Context, requestID string) {
	if err := s.revokeFamily(ctx, requestID); err != nil && s.opts.Logger != nil {
		s.opts.Logger.ErrorContext(ctx, "refresh token reuse: revoking the token family failed", "event", "token.family_revoke_failed",
			"grant_request_id", requestID, "error", err.Error())
	}
}

func (s *Store) revokeFamily(ctx context.Context, requestID string) error {
	return s.Transaction(ctx, func(ctx context.Context) error {
		if err := s.RevokeRefreshToken(ctx, requestID); err != nil {
			return err
		}
		return s.RevokeAccessToken(ctx, requestID)
	})
}

// RevokeFamily revokes every token of a grant; lingpai calls it when an account is no longer allowed.
func (s *Store) RevokeFamily(ctx context.Context, requestID string) error {
	return s.revokeFamily(ctx, requestID)
}

// RevokeSubject ends everything a user holds: every refresh-token family and access token issued
// to subject, unused authorization codes, and the browser login sessions. A disabled user's
// refresh token must not work again once the user is enabled.
func (s *Store) RevokeSubject(ctx context.Context, subject string) error {
	err := s.Transaction(ctx, func(ctx context.Context) error {
		for _, t := range []string{tblRefresh, tblCode} {
			if err := s.db(ctx).Table(t).Where("subject = ?", subject).Update("active", false).Error; err != nil {
				return err
			}
		}
		if err := s.db(ctx).Table(tblAccess).Where("subject = ?", subject).Delete(&requestRow{}).Error; err != nil {
			return err
		}
		if err := s.revokeForHorizon(ctx, revokedSubject, subject); err != nil {
			return err
		}
		return s.db(ctx).Where("user_id = ?", subject).Delete(&LoginSession{}).Error
	})
	if err != nil {
		return fmt.Errorf("storage: revoke subject: %w", err)
	}
	return nil
}

// --- openid.OpenIDConnectRequestStorage

// CreateOpenIDConnectSession stores the OIDC part of an authorization code.
func (s *Store) CreateOpenIDConnectSession(ctx context.Context, code string, req fosite.Requester) error {
	row, err := s.toRow(code, req, fosite.AuthorizeCode)
	if err != nil {
		return err
	}
	return s.create(ctx, tblOIDC, row)
}

// GetOpenIDConnectSession loads it; none is fosite.ErrNotFound (= openid.ErrNoSessionFound).
func (s *Store) GetOpenIDConnectSession(ctx context.Context, code string, req fosite.Requester) (fosite.Requester, error) {
	row, err := s.get(ctx, tblOIDC, code)
	if err != nil {
		return nil, err
	}
	return s.fromRow(ctx, row, req.GetSession())
}

// DeleteOpenIDConnectSession deletes it.
func (s *Store) DeleteOpenIDConnectSession(ctx context.Context, code string) error {
	return s.delete(ctx, tblOIDC, code)
}

// --- pkce.PKCERequestStorage

// CreatePKCERequestSession stores the PKCE challenge of an authorization code.
func (s *Store) CreatePKCERequestSession(ctx context.Context, signature string, req fosite.Requester) error {
	row, err := s.toRow(signature, req, fosite.AuthorizeCode)
	if err != nil {
		return err
	}
	return s.create(ctx, tblPKCE, row)
}

// GetPKCERequestSession loads it.
func (s *Store) GetPKCERequestSession(ctx context.Context, signature string, sess fosite.Session) (fosite.Requester, error) {
	row, err := s.get(ctx, tblPKCE, signature)
	if err != nil {
		return nil, err
	}
	return s.fromRow(ctx, row, sess)
}

// DeletePKCERequestSession deletes it.
func (s *Store) DeletePKCERequestSession(ctx context.Context, signature string) error {
	return s.delete(ctx, tblPKCE, signature)
}

// --- fosite.ClientManager: client assertion replay

// ClientAssertionJWTValid returns fosite.ErrJTIKnown for a jti seen before and not yet expired.
func (s *Store) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	var n int64
	if err := s.db(ctx).Model(&jtiRow{}).Where("jti = ? AND expires_at > ?", key(jti), s.now()).Count(&n).Error; err != nil {
		return fmt.Errorf("storage: jti: %w", err)
	}
	if n > 0 {
		return fosite.ErrJTIKnown
	}
	return nil
}

// SetClientAssertionJWT remembers a jti until exp.
func (s *Store) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	err := s.db(ctx).Create(&jtiRow{JTI: key(jti), ExpiresAt: exp.UTC()}).Error
	if err != nil && isDuplicate(err) {
		return fosite.ErrJTIKnown
	}
	return err
}
