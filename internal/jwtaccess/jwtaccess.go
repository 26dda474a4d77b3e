// Package jwtaccess introspects and revokes JWT access tokens that have no database row
// (tokens.store_access_tokens: false). Such a token carries its grant (session.ClaimGrantID); it
// is active while its signature verifies, it has not expired, and neither its jti, its grant nor
// its subject (since it was issued) is in storage's revocation list. Every other token goes to
// the wrapped fosite handler unchanged, so tokens stored before the switch keep working.
package jwtaccess

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"

	"github.com/lingpai/lingpai/internal/claimvalue"
	"github.com/lingpai/lingpai/internal/session"
)

// Store is what the package needs from storage.
type Store interface {
	GetClient(ctx context.Context, id string) (fosite.Client, error)
	AccessTokenRevoked(ctx context.Context, jti, grantID, subject string, issuedAt time.Time) (bool, error)
	RevokeJWTAccessToken(ctx context.Context, jti string, exp time.Time, grantID string) error
}

// Verifier checks a JWT once (signature by kid against every published key, with the key's own
// alg; exp, iat, nbf) and returns its claims: keys.Keyring.
type Verifier interface {
	VerifyJWT(ctx context.Context, token string) (jwt.MapClaims, error)
}

// Options configure both wrappers.
type Options struct {
	Verifier Verifier
	Store    Store
	Now      func() time.Time
}

// token is a verified, unexpired access token without a row.
type token struct {
	claims   jwt.MapClaims
	jti      string
	grantID  string
	subject  string
	clientID string
	iat, exp time.Time
}

// parse returns the token when it is one of ours without a row; nil sends it to the wrapped handler.
func parse(ctx context.Context, o Options, raw string) *token {
	if strings.Count(raw, ".") != 2 {
		return nil
	}
	c, err := o.Verifier.VerifyJWT(ctx, raw) // signature by kid, exp and nbf
	if err != nil {
		return nil
	}
	tok := &token{claims: c, iat: claimvalue.Time(c["iat"]), exp: claimvalue.Time(c["exp"])}
	tok.grantID, _ = c[session.ClaimGrantID].(string)
	tok.jti, _ = c["jti"].(string)
	tok.subject, _ = c["sub"].(string)
	tok.clientID, _ = c["client_id"].(string)
	if tok.grantID == "" || tok.exp.IsZero() || !o.Now().Before(tok.exp) {
		return nil
	}
	return tok
}

// Introspector returns inner preceded by the check of tokens without a row.
func Introspector(inner fosite.TokenIntrospector, o Options) fosite.TokenIntrospector {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &introspector{inner: inner, o: o}
}

type introspector struct {
	inner fosite.TokenIntrospector
	o     Options
}

func (in *introspector) IntrospectToken(ctx context.Context, raw string, use fosite.TokenUse, ar fosite.AccessRequester, scopes []string) (fosite.TokenUse, error) {
	tok := parse(ctx, in.o, raw)
	if tok == nil {
		return in.inner.IntrospectToken(ctx, raw, use, ar, scopes)
	}
	revoked, err := in.o.Store.AccessTokenRevoked(ctx, tok.jti, tok.grantID, tok.subject, tok.iat)
	if err != nil {
		return "", fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	if revoked {
		return "", fosite.ErrInactiveToken.WithHint("The access token was revoked.")
	}
	client, err := in.o.Store.GetClient(ctx, tok.clientID)
	if errors.Is(err, fosite.ErrNotFound) {
		return "", fosite.ErrInactiveToken.WithHint("The client no longer exists.") // its tokens go with it
	}
	if err != nil {
		return "", fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	granted := claimvalue.Strings(tok.claims["scope"])
	for _, s := range scopes {
		if s != "" && !fosite.Arguments(granted).Has(s) {
			return "", fosite.ErrInvalidScope.WithHintf("The request scope '%s' has not been granted or is not allowed to be requested.", s)
		}
	}
	req, ok := ar.(*fosite.AccessRequest)
	if !ok {
		return "", fosite.ErrServerError.WithDebugf("access request type %T", ar)
	}
	sess, ok := req.GetSession().(*session.Session)
	if !ok {
		return "", fosite.ErrServerError.WithDebugf("session type %T", req.GetSession())
	}
	req.SetID(tok.grantID)
	req.Client, req.RequestedAt = client, tok.iat
	for _, s := range granted {
		req.GrantScope(s)
	}
	for _, a := range claimvalue.Strings(tok.claims["aud"]) {
		req.GrantAudience(a)
	}
	sess.SetSubject(tok.subject)
	sess.SetExpiresAt(fosite.AccessToken, tok.exp)
	sess.GrantType, _ = tok.claims[session.ClaimGrantType].(string)
	for k, v := range tok.claims {
		if !registered[k] {
			sess.JWTClaims.Extra[k] = v
		}
	}
	return fosite.AccessToken, nil
}

// registered are the claims introspection reports from the request itself, and ours.
var registered = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "iat": true, "nbf": true, "jti": true,
	"scope": true, "scp": true, session.ClaimGrantID: true, session.ClaimGrantType: true,
}

// Revoker returns inner preceded by the revocation of tokens without a row (RFC 7009): the jti
// until its expiry and, as fosite does for a stored token, the whole grant.
func Revoker(inner fosite.RevocationHandler, o Options) fosite.RevocationHandler {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &revoker{inner: inner, o: o}
}

type revoker struct {
	inner fosite.RevocationHandler
	o     Options
}

func (r *revoker) RevokeToken(ctx context.Context, raw string, tt fosite.TokenType, client fosite.Client) error {
	tok := parse(ctx, r.o, raw)
	if tok == nil {
		return r.inner.RevokeToken(ctx, raw, tt, client)
	}
	if tok.clientID != client.GetID() {
		return fosite.ErrUnauthorizedClient // fosite's answer for another client's token: 200, nothing revoked
	}
	if err := r.o.Store.RevokeJWTAccessToken(ctx, tok.jti, tok.exp, tok.grantID); err != nil {
		return fosite.ErrTemporarilyUnavailable.WithWrap(fmt.Errorf("jwtaccess: revoke: %w", err)).WithDebug(err.Error())
	}
	return nil
}
