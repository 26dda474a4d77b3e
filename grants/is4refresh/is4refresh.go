// Package is4refresh honours refresh tokens that IdentityServer4 issued before the move to
// lingpai (imported by `lingpai import identityserver4` into storage's legacy_refresh_tokens):
// an app presenting its old handle at grant_type=refresh_token gets lingpai tokens for the same
// subject, client and scopes, and the old handle is used up.
//
// Wiring: Wrap must take the place of fosite's RefreshTokenGrantHandler in the token endpoint
// handler list, i.e. before openid.OpenIDConnectRefreshHandler (which adds the id_token from the
// session this handler prepares) and before grants.RefreshGuard:
//
//	token = append(token, is4refresh.Wrap(&oauth2.RefreshTokenGrantHandler{...}, is4refresh.Options{
//		Store: store, Issuer: issuerHelper, Accounts: accts}), &grants.RefreshGuard{...})
//
// Every refresh token lingpai issues contains a dot (ory_rt_<key>.<signature>) and IS4's never do
// (64 hex characters in 4.x, 43 base64url in 3.x), so a token without a dot takes the legacy path
// and everything else goes to the wrapped handler untouched.
package is4refresh

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/grants"
	"github.com/lingpai/lingpai/internal/session"
	"github.com/lingpai/lingpai/storage"
)

// Store is what the handler needs from storage.
type Store interface {
	LegacyRefreshTokenByKey(ctx context.Context, key string) (*storage.LegacyRefreshToken, error)
	ConsumeLegacyRefreshToken(ctx context.Context, key string) (bool, error)
	Transaction(ctx context.Context, fn func(ctx context.Context) error) error
}

// Accounts is what the handler needs from accounts: the subject must still be allowed tokens,
// and its claims go into the new id_token.
type Accounts interface {
	Active(ctx context.Context, subject string) (bool, error)
	Claims(ctx context.Context, subject string) (map[string]any, error)
}

// Options configure the wrapper.
type Options struct {
	Store    Store
	Issuer   *grants.TokenIssuer // issues lingpai's access, refresh and id tokens
	Accounts Accounts
	Now      func() time.Time
	Logger   *slog.Logger
}

type handler struct {
	inner fosite.TokenEndpointHandler
	o     Options
}

// Wrap returns a handler that serves legacy IS4 refresh tokens and passes every other request to
// inner (fosite's refresh handler).
func Wrap(inner fosite.TokenEndpointHandler, o Options) fosite.TokenEndpointHandler {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &handler{inner: inner, o: o}
}

// Key is IdentityServer4's PersistedGrants.Key of a refresh token handle (DefaultGrantStore):
// base64(SHA-256(handle + ":refresh_token")). The handle itself is never stored.
func Key(handle string) string {
	sum := sha256.Sum256([]byte(handle + ":refresh_token"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// legacy reports whether a request carries an IS4 refresh token.
func legacy(ar fosite.AccessRequester) (string, bool) {
	if !ar.GetGrantTypes().ExactOne("refresh_token") {
		return "", false
	}
	tok := ar.GetRequestForm().Get("refresh_token")
	return tok, tok != "" && len(tok) <= 128 && !strings.Contains(tok, ".")
}

func (h *handler) CanSkipClientAuth(ctx context.Context, ar fosite.AccessRequester) bool {
	return h.inner.CanSkipClientAuth(ctx, ar)
}

func (h *handler) CanHandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) bool {
	return h.inner.CanHandleTokenEndpointRequest(ctx, ar)
}

var errNotValid = fosite.ErrInvalidGrant.WithHint("The refresh token is malformed or not valid.")

// HandleTokenEndpointRequest checks the legacy token and prepares the session; it does not use
// the token up yet (PopulateTokenEndpointResponse does, in the transaction that issues the new
// tokens, so a failure in between never burns it).
func (h *handler) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	tok, ok := legacy(ar)
	if !ok {
		return h.inner.HandleTokenEndpointRequest(ctx, ar)
	}
	client := ar.GetClient()
	if !client.GetGrantTypes().Has("refresh_token") {
		return fosite.ErrUnauthorizedClient.WithHint("The OAuth 2.0 Client is not allowed to use authorization grant 'refresh_token'.")
	}
	row, err := h.o.Store.LegacyRefreshTokenByKey(ctx, Key(tok))
	if errors.Is(err, fosite.ErrNotFound) {
		return errNotValid
	}
	if err != nil {
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	now := h.o.Now().UTC()
	reuse := reusable(client)
	switch {
	case row.ClientID != client.GetID():
		return fosite.ErrInvalidGrant.WithHint("The OAuth 2.0 Client ID from this request does not match the ID during the initial token issuance.")
	case !now.Before(row.ExpiresAt):
		return fosite.ErrInvalidGrant.WithHint("The refresh token expired.")
	case row.Consumed && !reuse:
		return fosite.ErrInvalidGrant.WithHint("The refresh token was already used.")
	}
	active, err := h.o.Accounts.Active(ctx, row.Subject)
	if err != nil {
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	if !active {
		return fosite.ErrInvalidGrant.WithHint("The account is no longer allowed to obtain tokens.")
	}
	claims, err := h.o.Accounts.Claims(ctx, row.Subject)
	if err != nil {
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	sess, ok := ar.GetSession().(*session.Session)
	if !ok {
		return fosite.ErrServerError.WithDebugf("session type %T", ar.GetSession())
	}

	// The scopes IS4 granted, narrowed to a requested subset when the app asks for one (RFC 6749
	// section 6), and only those the client may still have.
	requested := ar.GetRequestedScopes()
	for _, s := range row.Scopes {
		if len(requested) > 0 && !requested.Has(s) {
			continue
		}
		if client.GetScopes().Has(s) {
			ar.GrantScope(s)
		}
	}
	for _, a := range client.GetAudience() {
		ar.GrantAudience(a)
	}
	// The family continues as a local account's: later refreshes recheck the user like a
	// password sign-in's (grants.RefreshGuard). Claims follow the scopes just granted.
	sets, err := h.o.Issuer.Claims.Sets(ctx)
	if err != nil {
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	grants.ApplyIdentity(sess, "password", grants.Identity{Subject: row.Subject, Claims: claims}, ar.GetGrantedScopes(), sets)
	if row.SessionID != "" {
		sess.IDTokenClaims().Extra["sid"] = row.SessionID
	}
	atLife := fosite.GetEffectiveLifespan(client, fosite.GrantTypeRefreshToken, fosite.AccessToken, h.o.Issuer.Config.GetAccessTokenLifespan(ctx))
	sess.SetExpiresAt(fosite.AccessToken, now.Add(atLife).Round(time.Second))
	if exp := refreshExpiry(client, row, now, h.o.Issuer.Config.GetRefreshTokenLifespan(ctx)); !exp.IsZero() {
		sess.SetExpiresAt(fosite.RefreshToken, exp)
	}
	return nil
}

// PopulateTokenEndpointResponse uses the legacy token up (compare-and-set: of concurrent requests
// exactly one wins; ReUse clients excepted) and issues lingpai's tokens in the same transaction.
func (h *handler) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	tok, ok := legacy(ar)
	if !ok {
		return h.inner.PopulateTokenEndpointResponse(ctx, ar, resp)
	}
	key := Key(tok)
	reuse := reusable(ar.GetClient())
	err := h.o.Store.Transaction(ctx, func(ctx context.Context) error {
		if !reuse {
			won, err := h.o.Store.ConsumeLegacyRefreshToken(ctx, key)
			if err != nil {
				return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
			}
			if !won {
				return fosite.ErrInvalidGrant.WithHint("The refresh token was already used.")
			}
		}
		return h.o.Issuer.Issue(ctx, ar, resp)
	})
	if err != nil {
		return err
	}
	h.o.Logger.InfoContext(ctx, "legacy refresh token exchanged", "event", "is4.refresh_exchanged",
		"client_id", ar.GetClient().GetID(), "subject", ar.GetSession().GetSubject(), "reuse", reuse)
	return nil
}

// reusable reports IS4's RefreshTokenUsage=ReUse for an imported client.
func reusable(c fosite.Client) bool {
	sc, ok := c.(interface {
		Settings() *storage.ClientSettings
	})
	return ok && sc.Settings() != nil && sc.Settings().RefreshTokenReuse
}

// refreshExpiry is the new refresh token's expiry, counted as IS4 would from the original
// token's creation: Absolute = created + absolute lifetime; Sliding = now + sliding lifetime,
// capped at created + absolute lifetime when that is set. A client without imported settings
// gets the server's lifespan.
func refreshExpiry(c fosite.Client, row *storage.LegacyRefreshToken, now time.Time, fallback time.Duration) time.Time {
	sc, ok := c.(interface {
		Settings() *storage.ClientSettings
	})
	if !ok || sc.Settings() == nil {
		if fallback < 0 {
			return time.Time{}
		}
		return now.Add(fallback).Round(time.Second)
	}
	set := sc.Settings()
	abs := time.Duration(set.AbsoluteRefreshLifetime) * time.Second
	if !set.RefreshTokenSliding {
		if abs <= 0 {
			return time.Time{}
		}
		return row.IssuedAt.Add(abs).UTC()
	}
	exp := now.Add(time.Duration(set.SlidingRefreshLifetime) * time.Second)
	if abs > 0 && exp.After(row.IssuedAt.Add(abs)) {
		exp = row.IssuedAt.Add(abs)
	}
	return exp.UTC()
}
