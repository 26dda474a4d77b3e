// Package password is the seed's grant_type=password (RFC 6749 section 4.3) for local accounts:
// fosite's resource owner password credentials handler, which fosite marks deprecated (OAuth 2.1
// drops the grant) but the seed requires, completed by OpenID, which adds the user's claims and
// an id_token. Handlers returns both in the order they must run.
package password

import (
	"context"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/lingpai/lingpai/grants"
	"github.com/lingpai/lingpai/internal/session"
)

// GrantType is the grant_type value.
const GrantType = "password"

// Accounts is what the grant needs of local accounts.
type Accounts interface {
	// Authenticate checks a username and password; a fosite.ErrNotFound-wrapped error means bad
	// credentials (fosite's contract), anything else a server error.
	Authenticate(ctx context.Context, username, password string) (subject string, err error)
	LocalAccounts
}

// Storage is where fosite's handler stores the tokens it issues.
type Storage interface {
	oauth2.AccessTokenStorage
	oauth2.RefreshTokenStorage
}

// Handlers returns fosite's password handler followed by its OpenID companion: the companion
// reads the subject the first one set, so the order is fixed here, not left to the caller.
func Handlers(strategy oauth2.CoreStrategy, store Storage, accounts Accounts, issuer *grants.TokenIssuer, cfg *fosite.Config) (*OpenID, []fosite.TokenEndpointHandler) {
	companion := &OpenID{Issuer: issuer, Accounts: accounts}
	// fosite marks this handler deprecated to discourage the grant (OAuth 2.1 drops it); the seed
	// requires grant_type=password, so lingpai keeps it, for local accounts only.
	ropc := &oauth2.ResourceOwnerPasswordCredentialsGrantHandler{ //nolint:staticcheck // SA1019: the seed requires this grant
		ResourceOwnerPasswordCredentialsGrantStorage: ropcStorage{store, accounts},
		HandleHelper:         &oauth2.HandleHelper{AccessTokenStrategy: strategy, AccessTokenStorage: store, Config: cfg},
		RefreshTokenStrategy: strategy, Config: cfg,
	}
	return companion, []fosite.TokenEndpointHandler{ropc, companion}
}

// ropcStorage is fosite's password-grant storage: tokens from the store, Authenticate from accounts.
type ropcStorage struct {
	Storage
	accounts Accounts
}

func (s ropcStorage) Authenticate(ctx context.Context, name, secret string) (string, error) {
	return s.accounts.Authenticate(ctx, name, secret)
}

// LocalAccounts is what the password companion needs from accounts.
type LocalAccounts interface {
	Claims(ctx context.Context, subject string) (map[string]any, error)
	Active(ctx context.Context, subject string) (bool, error)
}

// OpenID completes fosite's password grant (which never issues an id_token): it adds the
// user's claims and amr pwd to the session and an id_token when openid is granted. It must be
// registered after fosite's ROPC handler, which has set the subject by then.
type OpenID struct {
	Issuer   *grants.TokenIssuer
	Accounts LocalAccounts
}

var _ fosite.TokenEndpointHandler = (*OpenID)(nil)

// Type is the grant it completes; with Recheck it doubles as the refresh guard's Rechecker.
func (p *OpenID) Type() string { return "password" }

// CanSkipClientAuth implements fosite.TokenEndpointHandler.
func (p *OpenID) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool {
	return false
}

// CanHandleTokenEndpointRequest implements fosite.TokenEndpointHandler.
func (p *OpenID) CanHandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) bool {
	return ar.GetGrantTypes().ExactOne("password")
}

// HandleTokenEndpointRequest loads the user's claims into the session.
func (p *OpenID) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if !p.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	sess, ok := ar.GetSession().(*session.Session)
	if !ok || sess.GetSubject() == "" {
		return fosite.ErrServerError.WithDebug("password grant left no subject")
	}
	claims, err := p.Accounts.Claims(ctx, sess.GetSubject())
	if err != nil {
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	sets, err := p.Issuer.Claims.Sets(ctx)
	if err != nil {
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	grants.ApplyIdentity(sess, "password", grants.Identity{Subject: sess.GetSubject(), Claims: claims, AMR: []string{"pwd"}}, ar.GetGrantedScopes(), sets)
	return nil
}

// PopulateTokenEndpointResponse adds the id_token.
func (p *OpenID) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !p.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	return p.Issuer.IssueIDToken(ctx, ar, resp)
}

// Recheck refuses refresh for a local user who was deleted or disabled since sign-in.
func (p *OpenID) Recheck(ctx context.Context, subject, _ string) error {
	return grants.RecheckActive(ctx, p.Accounts, subject)
}
