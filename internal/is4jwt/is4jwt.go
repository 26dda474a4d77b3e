// Package is4jwt makes lingpai's introspection answer for JWT access tokens that IdentityServer4
// signed before the move (with a signing key imported by `lingpai import identityserver4
// --signing-key`). lingpai introspects its own tokens by their stored row; IS4's have none, so
// they are recognised by the imported key's kid and verified by signature and expiry alone.
//
// Wiring: Wrap takes the place of oauth2.CoreValidator in the introspection handlers:
//
//	fc.TokenIntrospectionHandlers = fosite.TokenIntrospectionHandlers{
//		is4jwt.Wrap(&oauth2.CoreValidator{...}, is4jwt.Options{Signer: keyring.Signer(), Store: store})}
package is4jwt

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"

	"github.com/lingpai/lingpai/internal/claimvalue"
	"github.com/lingpai/lingpai/storage"
)

// Store is what the wrapper reads: which keys were imported, and the token's client.
type Store interface {
	ImportedSigningKeys(ctx context.Context) ([]storage.ImportedSigningKey, error)
	GetClient(ctx context.Context, id string) (fosite.Client, error)
}

// Options configure the wrapper.
type Options struct {
	Signer jwt.Signer // verifies by kid against every published key (keys.Keyring.Signer)
	Store  Store
	Now    func() time.Time
}

type wrapper struct {
	inner fosite.TokenIntrospector
	o     Options
}

// Wrap returns an introspector that asks inner first and, when inner does not know the token,
// accepts a valid JWT signed by an imported IS4 key.
func Wrap(inner fosite.TokenIntrospector, o Options) fosite.TokenIntrospector {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &wrapper{inner: inner, o: o}
}

func (w *wrapper) IntrospectToken(ctx context.Context, token string, use fosite.TokenUse, ar fosite.AccessRequester, scopes []string) (fosite.TokenUse, error) {
	tu, err := w.inner.IntrospectToken(ctx, token, use, ar, scopes)
	if err == nil {
		return tu, nil
	}
	ok, ierr := w.is4(ctx, token, ar, scopes)
	if ierr != nil {
		return "", ierr
	}
	if !ok {
		return "", err
	}
	return fosite.AccessToken, nil
}

// is4 reports whether token is a live IS4 access token and, when it is, fills ar from its claims.
func (w *wrapper) is4(ctx context.Context, token string, ar fosite.AccessRequester, scopes []string) (bool, error) {
	kid := headerKID(token)
	if kid == "" {
		return false, nil
	}
	keys, err := w.o.Store.ImportedSigningKeys(ctx)
	if err != nil {
		return false, fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	var mark *storage.ImportedSigningKey
	for i := range keys {
		if keys[i].KID == kid {
			mark = &keys[i]
		}
	}
	if mark == nil {
		return false, nil
	}
	parsed, err := w.o.Signer.Decode(ctx, token) // signature by kid, and exp/nbf
	if err != nil || parsed == nil || !parsed.Valid() {
		return false, nil //nolint:nilerr // a token that does not verify is inactive, not a failure
	}
	claims := parsed.Claims
	exp, iat := claimvalue.Time(claims["exp"]), claimvalue.Time(claims["iat"])
	if exp.IsZero() || !w.o.Now().Before(exp) {
		return false, nil
	}
	// Once lingpai signs with the imported key, tokens signed since are lingpai's: they have rows,
	// and one without a row was revoked. Only what IS4 signed before that is taken on signature.
	if mark.ActiveSince != nil && (iat.IsZero() || !iat.Before(*mark.ActiveSince)) {
		return false, nil
	}
	clientID, _ := claims["client_id"].(string)
	client, err := w.o.Store.GetClient(ctx, clientID)
	if errors.Is(err, fosite.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("is4jwt: client %q: %w", clientID, err)
	}
	granted := claimvalue.Strings(claims["scope"])
	for _, s := range scopes {
		if !fosite.Arguments(granted).Has(s) {
			return false, fosite.ErrInvalidScope.WithHintf("The request scope '%s' has not been granted or is not allowed to be requested.", s)
		}
	}
	req, ok := ar.(*fosite.AccessRequest)
	if !ok {
		return false, fosite.ErrServerError.WithDebugf("access request type %T", ar)
	}
	req.Client, req.RequestedAt = client, iat
	for _, s := range granted {
		req.GrantScope(s)
	}
	for _, a := range claimvalue.Strings(claims["aud"]) {
		req.GrantAudience(a)
	}
	sess := req.GetSession()
	if sess == nil {
		return false, fosite.ErrServerError.WithDebug("introspection without a session")
	}
	if sub, _ := claims["sub"].(string); sub != "" {
		if ss, ok := sess.(interface{ SetSubject(string) }); ok {
			ss.SetSubject(sub)
		}
	}
	if es, ok := sess.(interface {
		SetExpiresAt(fosite.TokenType, time.Time)
	}); ok {
		es.SetExpiresAt(fosite.AccessToken, exp)
	}
	return true, nil
}

// headerKID reads the kid of a compact JWS without verifying it.
func headerKID(token string) string {
	head, _, ok := strings.Cut(token, ".")
	if !ok {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ""
	}
	var h struct {
		KID string `json:"kid"`
	}
	if json.Unmarshal(raw, &h) != nil {
		return ""
	}
	return h.KID
}
