package manage

// A user's login sessions, consents, linked identities and tokens.

import (
	"context"
	"fmt"

	"github.com/lingpai/lingpai/storage"
)

// Sessions lists a user's live login sessions.
func (s *Service) Sessions(ctx context.Context, sub string) ([]SessionView, error) {
	if _, err := s.user(ctx, sub); err != nil {
		return nil, err
	}
	var rows []storage.LoginSession
	if err := s.Store.DB(ctx).Where("user_id = ? AND expires_at > ?", sub, s.now()).Order("created_at").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("manage: sessions: %w", err)
	}
	out := []SessionView{}
	for _, r := range rows {
		out = append(out, SessionView{SID: r.SID, AuthTime: r.AuthTime.UTC(), AMR: r.AMR, ExpiresAt: r.ExpiresAt.UTC()})
	}
	return out, nil
}

// EndSessions signs a user out of every browser session.
func (s *Service) EndSessions(ctx context.Context, sub string) error {
	if err := s.Store.DB(ctx).Where("user_id = ?", sub).Delete(&storage.LoginSession{}).Error; err != nil {
		return fmt.Errorf("manage: end sessions: %w", err)
	}
	return nil
}

// EndSession ends one browser session by its sid.
func (s *Service) EndSession(ctx context.Context, sub, sid string) error {
	res := s.Store.DB(ctx).Where("user_id = ? AND sid = ?", sub, sid).Delete(&storage.LoginSession{})
	if res.Error != nil {
		return fmt.Errorf("manage: end session: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// Consents lists the scopes a user granted each client.
func (s *Service) Consents(ctx context.Context, sub string) ([]ConsentView, error) {
	if _, err := s.user(ctx, sub); err != nil {
		return nil, err
	}
	var rows []storage.Consent
	if err := s.Store.DB(ctx).Where("user_id = ?", sub).Order("client_id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("manage: consents: %w", err)
	}
	out := []ConsentView{}
	for _, r := range rows {
		out = append(out, ConsentView{ClientID: r.ClientID, Scopes: list(r.Scopes), UpdatedAt: r.UpdatedAt.UTC()})
	}
	return out, nil
}

// RevokeConsent forgets what a user granted one client (the consent page shows again).
func (s *Service) RevokeConsent(ctx context.Context, sub, clientID string) error {
	res := s.Store.DB(ctx).Where("user_id = ? AND client_id = ?", sub, clientID).Delete(&storage.Consent{})
	if res.Error != nil {
		return fmt.Errorf("manage: revoke consent: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// Identities lists a user's linked identities.
func (s *Service) Identities(ctx context.Context, sub string) ([]IdentityView, error) {
	if _, err := s.user(ctx, sub); err != nil {
		return nil, err
	}
	rows, err := s.Store.IdentitiesOf(ctx, sub)
	if err != nil {
		return nil, err
	}
	out := []IdentityView{}
	for _, r := range rows {
		out = append(out, IdentityView{ID: r.ID, Provider: r.Provider, Subject: r.Subject, CreatedAt: r.CreatedAt.UTC()})
	}
	return out, nil
}

// RevokeTokens deletes every access and refresh token of a user (sign out everywhere, for API
// clients), or of one client when clientID is set; it reports how many rows went.
func (s *Service) RevokeTokens(ctx context.Context, sub, clientID string) (int64, error) {
	var n int64
	err := s.Store.Transaction(ctx, func(ctx context.Context) error {
		n = 0
		for _, t := range []string{"access_tokens", "refresh_tokens", "authorize_codes", "pkce_requests", "oidc_sessions"} {
			res := s.Store.DB(ctx).Exec("DELETE FROM "+t+" WHERE "+where(sub, clientID), args(sub, clientID)...)
			if res.Error != nil {
				return fmt.Errorf("manage: revoke tokens: %s: %w", t, res.Error)
			}
			if t == "access_tokens" || t == "refresh_tokens" {
				n += res.RowsAffected
			}
		}
		return nil
	})
	return n, err
}

func where(sub, clientID string) string {
	switch {
	case sub != "" && clientID != "":
		return "subject = ? AND client_id = ?"
	case sub != "":
		return "subject = ?"
	}
	return "client_id = ?"
}

func args(sub, clientID string) []any {
	var out []any
	if sub != "" {
		out = append(out, sub)
	}
	if clientID != "" {
		out = append(out, clientID)
	}
	return out
}
