package server

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/handlers"
	"github.com/lingpai/lingpai/keys"
	"github.com/lingpai/lingpai/pages"
	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/websession"
)

// web builds the browser side: sign-in and consent pages, sessions, userinfo and logout.
func (b *builder) web(ctx context.Context, cfg *config.Config, store *storage.Store, provider fosite.OAuth2Provider,
	accts *accounts.Service, keyring *keys.Keyring, logger *slog.Logger) (*handlers.Web, error) {
	csrfKey, err := store.Secret(ctx, "csrf-key", 32)
	if err != nil {
		return nil, fmt.Errorf("server: csrf key: %w", err)
	}
	renderer, err := pages.New(pages.Brand{ProductName: cfg.UI.ProductName, LogoURL: cfg.UI.LogoURL})
	if err != nil {
		return nil, err
	}
	now := b.now
	if now == nil {
		now = time.Now
	}
	return &handlers.Web{
		Provider:     provider,
		Store:        store,
		Authenticate: accts.Authenticate,
		Sessions: &websession.Manager{Store: store, CSRFKey: csrfKey, Lifetime: cfg.UI.SessionLifetime, Now: now,
			Secure: strings.HasPrefix(cfg.Server.Issuer, "https://")},
		Pages:         renderer,
		Logger:        logger,
		VerifyIDToken: keyring.VerifyJWS,
		Now:           now,
	}, nil
}
