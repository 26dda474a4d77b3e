// The refresh guard: accounts can go away between sign-in and refresh.

package grants

import (
	"context"
	"errors"
	"log/slog"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/internal/session"
)

// loadedAccount keys the state of the refresh token's user that storage read with the token.
type loadedAccount struct{}

// RecheckActive is the Rechecker of grants whose accounts live in lingpai: the user must still
// exist and not be disabled. Within a refresh it uses the state storage read together with the
// refresh token a moment earlier (as fresh as a second read, one round trip fewer).
func RecheckActive(ctx context.Context, accounts interface {
	Active(ctx context.Context, subject string) (bool, error)
}, subject string) error {
	if a, ok := ctx.Value(loadedAccount{}).(*session.Account); ok && a.Subject == subject {
		if !a.Active() {
			return ErrInvalidCredentials
		}
		return nil
	}
	ok, err := accounts.Active(ctx, subject)
	if err != nil {
		return err
	}
	if !ok {
		return ErrInvalidCredentials
	}
	return nil
}

// FamilyRevoker revokes every token of a grant.
type FamilyRevoker interface {
	RevokeFamily(ctx context.Context, requestID string) error
}

// RefreshGuard runs after fosite's refresh handler: it asks the grant that started the token family
// whether the account may still get tokens, and when not, revokes the family and refuses.
type RefreshGuard struct {
	Recheckers map[string]Rechecker // by grant type
	Revoker    FamilyRevoker
	Logger     *slog.Logger
}

var _ fosite.TokenEndpointHandler = (*RefreshGuard)(nil)

// CanSkipClientAuth implements fosite.TokenEndpointHandler.
func (g *RefreshGuard) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool { return false }

// CanHandleTokenEndpointRequest implements fosite.TokenEndpointHandler.
func (g *RefreshGuard) CanHandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) bool {
	return ar.GetGrantTypes().ExactOne("refresh_token")
}

// HandleTokenEndpointRequest rechecks the account.
func (g *RefreshGuard) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if !g.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	sess, ok := ar.GetSession().(*session.Session)
	if !ok || sess.GetSubject() == "" {
		return nil
	}
	rc, ok := g.Recheckers[sess.GrantType]
	if !ok {
		return nil
	}
	if sess.Account != nil {
		ctx = context.WithValue(ctx, loadedAccount{}, sess.Account)
	}
	err := rc.Recheck(ctx, sess.GetSubject(), sess.IdentityRef)
	if err == nil {
		return nil
	}
	if !errors.Is(err, ErrInvalidCredentials) {
		return errorFor(err)
	}
	if rerr := g.Revoker.RevokeFamily(ctx, ar.GetID()); rerr != nil {
		return fosite.ErrServerError.WithWrap(rerr).WithDebug(rerr.Error())
	}
	g.Logger.InfoContext(ctx, "refresh refused; token family revoked", "event", "token.family_revoked",
		"reason", "account_no_longer_allowed", "grant_type", sess.GrantType, "subject", sess.GetSubject())
	return fosite.ErrInvalidGrant.WithHint("The account is no longer allowed to obtain tokens.").WithWrap(err)
}

// PopulateTokenEndpointResponse implements fosite.TokenEndpointHandler; it adds nothing.
func (g *RefreshGuard) PopulateTokenEndpointResponse(context.Context, fosite.AccessRequester, fosite.AccessResponder) error {
	return fosite.ErrUnknownRequest
}

// ActiveSubject is a token introspection step, after fosite's validator: a token whose user has
// been disabled or deleted is inactive (for /connect/introspect and userinfo alike), even before
// it expires. It looks only at families started by grants whose subject is a lingpai account.
type ActiveSubject struct {
	Accounts interface {
		Active(ctx context.Context, subject string) (bool, error)
	}
	GrantTypes map[string]bool // grant types whose subject is a lingpai user
}

var _ fosite.TokenIntrospector = (*ActiveSubject)(nil)

// IntrospectToken implements fosite.TokenIntrospector. It never validates a token by itself
// (ErrUnknownRequest leaves fosite's verdict); it only turns an active token inactive.
func (a *ActiveSubject) IntrospectToken(ctx context.Context, _ string, _ fosite.TokenUse, ar fosite.AccessRequester, _ []string) (fosite.TokenUse, error) {
	sess, ok := ar.GetSession().(*session.Session)
	if !ok || sess.GetSubject() == "" || !a.GrantTypes[sess.GrantType] {
		return "", fosite.ErrUnknownRequest
	}
	active, err := a.Accounts.Active(ctx, sess.GetSubject())
	if err != nil {
		return "", fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	if !active {
		return "", fosite.ErrInactiveToken.WithHint("The account is no longer active.")
	}
	return "", fosite.ErrUnknownRequest
}
