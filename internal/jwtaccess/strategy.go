package jwtaccess

import (
	"context"
	"errors"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/jwt"
)

// Strategy is fosite's JWT access-token strategy whose ValidateAccessToken (introspection of a
// stored token, after its row was read) checks the token with Verifier: the same checks as the
// strategy's own jwt.Signer Decode (signature by kid, exp, iat, nbf; and the alg pinned to the
// key's), with the token read once. Everything else is fosite's strategy.
type Strategy struct {
	*oauth2.DefaultJWTStrategy
	Verifier Verifier
}

// ValidateAccessToken answers as fosite's does: a jwt.ValidationError becomes the RFC 6749 error
// fosite maps it to.
func (s *Strategy) ValidateAccessToken(ctx context.Context, _ fosite.Requester, token string) error {
	if _, err := s.Verifier.VerifyJWT(ctx, token); err != nil {
		var ve *jwt.ValidationError
		if errors.As(err, &ve) {
			return rfcError(ve).WithWrap(err).WithDebug(err.Error())
		}
		return err
	}
	return nil
}

// rfcError is fosite's mapping of a validation error (oauth2.toRFCErr, unexported).
func rfcError(v *jwt.ValidationError) *fosite.RFC6749Error {
	switch {
	case v.Has(jwt.ValidationErrorMalformed):
		return fosite.ErrInvalidTokenFormat
	case v.Has(jwt.ValidationErrorUnverifiable | jwt.ValidationErrorSignatureInvalid):
		return fosite.ErrTokenSignatureMismatch
	case v.Has(jwt.ValidationErrorExpired):
		return fosite.ErrTokenExpired
	case v.Has(jwt.ValidationErrorAudience |
		jwt.ValidationErrorIssuedAt |
		jwt.ValidationErrorIssuer |
		jwt.ValidationErrorNotValidYet |
		jwt.ValidationErrorId |
		jwt.ValidationErrorClaimsInvalid):
		return fosite.ErrTokenClaim
	default:
		return fosite.ErrRequestUnauthorized
	}
}
