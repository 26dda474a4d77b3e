package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/grants"
	"github.com/lingpai/lingpai/grants/passwordad"
	"github.com/lingpai/lingpai/handlers"
	"github.com/lingpai/lingpai/internal/keys"
	"github.com/lingpai/lingpai/internal/reqctx"
	"github.com/lingpai/lingpai/internal/throttle"
	"github.com/lingpai/lingpai/internal/web/pages"
	"github.com/lingpai/lingpai/internal/web/websession"
	"github.com/lingpai/lingpai/storage"
)

// web builds the browser side: sign-in and consent pages, sessions, userinfo and logout.
func (b *builder) web(ctx context.Context, cfg *config.Config, store *storage.Store, provider fosite.OAuth2Provider, renderer *pages.Renderer,
	authenticate func(ctx context.Context, username, password string) (string, error),
	claims func(ctx context.Context, subject string) (map[string]any, error), keyring *keys.Keyring,
	logger *slog.Logger) (*handlers.Web, error) {
	csrfKey, err := store.Secret(ctx, "csrf-key", 32)
	if err != nil {
		return nil, fmt.Errorf("server: csrf key: %w", err)
	}
	now := b.now
	if now == nil {
		now = time.Now
	}
	return &handlers.Web{
		Provider:     provider,
		Store:        store,
		Authenticate: authenticate,
		Claims:       claims,
		Sessions: &websession.Manager{Store: store, CSRFKey: csrfKey, Lifetime: cfg.UI.SessionLifetime, Now: now,
			Secure: strings.HasPrefix(cfg.Server.Issuer, "https://")},
		Pages:         renderer,
		Logger:        logger,
		VerifyIDToken: keyring.VerifyJWS,
		Now:           now,
	}, nil
}

// directoryLogin lets the sign-in page accept directory users too: a name with a local account is
// checked locally; any other is checked with the directory through the password_ad grant, under the
// same regulator. Either way a failure is one fosite.ErrNotFound-wrapped error (one message).
func directoryLogin(store *storage.Store, accts *accounts.Service, ad *passwordad.Grant, reg *throttle.Regulator) func(context.Context, string, string) (string, error) {
	return func(ctx context.Context, username, password string) (string, error) {
		_, err := store.UserByUsername(ctx, accounts.NormalizeUsername(username))
		if !errors.Is(err, fosite.ErrNotFound) {
			return accts.Authenticate(ctx, username, password) // a local user, or a database error it reports
		}
		req := grants.Request{Form: url.Values{"username": {username}, "password": {password}}, ClientIP: reqctx.From(ctx).ClientIP}
		account := ad.AccountKey(req)
		if err := reg.Check(ctx, account, req.ClientIP); err != nil {
			if errors.Is(err, throttle.ErrLocked) {
				return "", fmt.Errorf("%w: %w", fosite.ErrNotFound, err)
			}
			return "", err
		}
		id, err := ad.Authenticate(ctx, req)
		switch {
		case errors.Is(err, grants.ErrInvalidCredentials) || errors.Is(err, grants.ErrInvalidRequest):
			if _, ferr := reg.Fail(ctx, account, req.ClientIP); ferr != nil {
				return "", ferr
			}
			return "", fmt.Errorf("%w: %w", fosite.ErrNotFound, err)
		case err != nil:
			return "", err
		}
		return id.Subject, reg.Succeed(ctx, account)
	}
}
