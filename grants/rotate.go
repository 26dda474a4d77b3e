// Refresh token rotation in one storage call instead of fosite's transaction of four statements.

package grants

import (
	"context"
	"errors"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
)

// Rotation is one refresh token rotation: the presented token and its successors.
type Rotation struct {
	RequestID        string
	Presented        string // signature of the refresh token presented
	AccessSignature  string
	Access           fosite.Requester
	RefreshSignature string
	Refresh          fosite.Requester
}

// Rotator stores a rotation: the successors first, then the presented token retired by
// compare-and-set; a lost compare-and-set is reuse (an error wrapping fosite.ErrSerializationFailure).
type Rotator interface {
	RotateRefresh(ctx context.Context, r Rotation) error
}

// Refresh is fosite's refresh handler (which reads and checks the presented token) with its own
// response step: one Rotator call, without a transaction, so a refresh costs the token read and
// two or four writes instead of a transaction's BEGIN, four statements and COMMIT.
type Refresh struct {
	*oauth2.RefreshTokenGrantHandler
	Rotator Rotator
}

// PopulateTokenEndpointResponse issues the new pair (RFC 6749 section 6).
func (h *Refresh) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	accessToken, accessSignature, err := h.AccessTokenStrategy.GenerateAccessToken(ctx, ar)
	if err != nil {
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	refreshToken, refreshSignature, err := h.RefreshTokenStrategy.GenerateRefreshToken(ctx, ar)
	if err != nil {
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	stored := ar.Sanitize([]string{})
	stored.SetID(ar.GetID())
	err = h.Rotator.RotateRefresh(ctx, Rotation{
		RequestID:        ar.GetID(),
		Presented:        h.RefreshTokenStrategy.RefreshTokenSignature(ctx, ar.GetRequestForm().Get("refresh_token")),
		AccessSignature:  accessSignature,
		Access:           stored,
		RefreshSignature: refreshSignature,
		Refresh:          KeepRefreshScope(stored),
	})
	if err != nil {
		return rotationError(err)
	}
	resp.SetAccessToken(accessToken)
	resp.SetTokenType("bearer")
	life := fosite.GetEffectiveLifespan(ar.GetClient(), fosite.GrantTypeRefreshToken, fosite.AccessToken, h.Config.GetAccessTokenLifespan(ctx))
	if exp := ar.GetSession().GetExpiresAt(fosite.AccessToken); !exp.IsZero() {
		life = time.Until(exp)
	}
	resp.SetExpiresIn(life)
	resp.SetScopes(ar.GetGrantedScopes())
	resp.SetExtra("refresh_token", refreshToken)
	return nil
}

// rotationError answers a failed rotation as fosite's own refresh handler does.
func rotationError(err error) error {
	switch {
	case errors.Is(err, fosite.ErrSerializationFailure):
		return fosite.ErrInvalidRequest.WithDebug(err.Error()).WithWrap(err).
			WithHint("Failed to refresh token because of multiple concurrent requests using the same token. Please retry the request.")
	case errors.Is(err, fosite.ErrNotFound), errors.Is(err, fosite.ErrInactiveToken):
		return fosite.ErrInvalidRequest.WithDebug(err.Error()).WithWrap(err).WithHint("Failed to refresh token. Please retry the request.")
	}
	return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
}
