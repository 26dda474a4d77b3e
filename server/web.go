package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/grants"
	"github.com/lingpai/lingpai/grants/passwordad"
	"github.com/lingpai/lingpai/handlers"
	"github.com/lingpai/lingpai/internal/reqctx"
	"github.com/lingpai/lingpai/internal/throttle"
	"github.com/lingpai/lingpai/internal/web/websession"
	"github.com/lingpai/lingpai/storage"
)

// web builds the browser side: sign-in and consent pages, sessions, userinfo and logout.
func (b *builder) web(ctx context.Context, d *parts, provider fosite.OAuth2Provider, built builtins) (*handlers.Web, error) {
	csrfKey, err := d.store.Secret(ctx, "csrf-key", 32)
	if err != nil {
		return nil, fmt.Errorf("server: csrf key: %w", err)
	}
	authenticate := d.accounts.Authenticate
	if built.directory != nil {
		ad := &passwordad.Grant{Directory: built.directory, Accounts: d.accounts, Logger: d.logger, PhoneRegion: phoneRegion(d.cfg)}
		authenticate = directoryLogin(d, ad)
	}
	return &handlers.Web{
		Provider:     provider,
		Store:        d.store,
		Accounts:     d.accounts,
		ScopeClaims:  d.claimSets,
		Authenticate: authenticate,
		Sessions: &websession.Manager{Store: d.store, CSRFKey: csrfKey, Lifetime: d.cfg.UI.SessionLifetime, Now: d.now,
			Secure: strings.HasPrefix(d.cfg.Server.Issuer, "https://")},
		Pages:         d.renderer,
		Logger:        d.logger,
		VerifyIDToken: d.keyring.VerifyJWS,
		Now:           d.now,
		Issuer:        d.issuer,
		CrossOrigin:   http.NewCrossOriginProtection(),
		Unavailable:   storage.IsTransient,
		Healthy:       dbHealthy(d),
	}, nil
}

// directoryLogin lets the sign-in page accept directory users too: a name with a local account is
// checked locally; any other is checked with the directory through the password_ad grant, under the
// same regulator. Either way a failure is one fosite.ErrNotFound-wrapped error (one message).
func directoryLogin(d *parts, ad *passwordad.Grant) func(context.Context, string, string) (string, error) {
	return func(ctx context.Context, username, password string) (string, error) {
		local, err := d.accounts.IsLocal(ctx, username)
		if err != nil || local {
			return d.accounts.Authenticate(ctx, username, password) // a local user, or a database error it reports
		}
		req := grants.Request{Form: url.Values{"username": {username}, "password": {password}}, ClientIP: reqctx.From(ctx).ClientIP}
		var id grants.Identity
		_, err = d.regulator.Attempt(ctx, ad.AccountKey(req), req.ClientIP, func() error {
			var err error
			id, err = ad.Authenticate(ctx, req)
			return err
		}, func(err error) bool {
			return errors.Is(err, grants.ErrInvalidCredentials) || errors.Is(err, grants.ErrInvalidRequest)
		})
		if errors.Is(err, throttle.ErrLocked) || errors.Is(err, grants.ErrInvalidCredentials) || errors.Is(err, grants.ErrInvalidRequest) {
			return "", fmt.Errorf("%w: %w", fosite.ErrNotFound, err)
		}
		if err != nil {
			return "", err
		}
		return id.Subject, nil
	}
}
