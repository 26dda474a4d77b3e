// Package session holds lingpai's fosite session: the state that travels with one grant from the
// token endpoint into storage and back on refresh, introspection and revocation.
package session

import (
	"time"

	"github.com/mohae/deepcopy"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// Session carries both the id_token claims (openid) and the JWT access token claims (RFC 9068).
// Neither fosite session does both, so this one embeds the OIDC session and adds the JWT parts.
type Session struct {
	*openid.DefaultSession `json:"oidc"`
	JWTClaims              *jwt.JWTClaims `json:"jwt_claims"`
	JWTHeader              *jwt.Headers   `json:"jwt_header"`
	// GrantType is the grant that started this token family (password_ad, sms, ...), so refresh can
	// ask that grant whether the account is still allowed.
	GrantType string `json:"grant_type,omitempty"`
	// IdentityRef is the grant's own reference to the account (e.g. the directory entry id).
	IdentityRef string `json:"identity_ref,omitempty"`
	// RefreshScope is set, for one request only (never stored), when a refresh narrowed the scope:
	// the family's full scope, which the new refresh token keeps (grants.KeepRefreshScope).
	RefreshScope fosite.Arguments `json:"-"`
	// Account is set, for one request only (never stored), when storage read the state of the
	// token's user together with a refresh token: the refresh guard then needs no second read.
	Account *Account `json:"-"`
}

// Account is the state of a user as storage read it, at the time of the read.
type Account struct {
	Subject  string
	Found    bool // the user exists
	Disabled bool
	Locked   bool // a lockout (imported from IdentityServer4) runs at the time of the read
}

// Active reports whether the account may still get tokens.
func (a *Account) Active() bool { return a.Found && !a.Disabled && !a.Locked }

var (
	_ oauth2.JWTSessionContainer = (*Session)(nil)
	_ openid.Session             = (*Session)(nil)
)

// New returns an empty session ready for NewAccessRequest.
func New() *Session {
	return &Session{
		DefaultSession: &openid.DefaultSession{
			Claims:  &jwt.IDTokenClaims{Extra: map[string]interface{}{}},
			Headers: &jwt.Headers{Extra: map[string]interface{}{}},
		},
		JWTClaims: &jwt.JWTClaims{Extra: map[string]interface{}{}},
		// typ at+jwt marks an RFC 9068 access token. kid is deliberately absent: the signing key
		// supplies it, so a stored session can never pin a retired key (ory/hydra#3942).
		JWTHeader: &jwt.Headers{Extra: map[string]interface{}{"typ": "at+jwt"}},
	}
}

// SetSubject sets the subject everywhere it is read: fosite's session, the id_token and the JWT.
func (s *Session) SetSubject(subject string) {
	s.DefaultSession.SetSubject(subject)
	s.IDTokenClaims().Subject = subject
	s.JWTClaims.Subject = subject
}

// SetExpiresAt records expiry for a token type; the JWT exp claim is derived from it by fosite.
func (s *Session) SetExpiresAt(key fosite.TokenType, exp time.Time) {
	s.DefaultSession.SetExpiresAt(key, exp)
}

// GetJWTClaims satisfies oauth2.JWTSessionContainer.
func (s *Session) GetJWTClaims() jwt.JWTClaimsContainer { return s.JWTClaims }

// GetJWTHeader satisfies oauth2.JWTSessionContainer.
func (s *Session) GetJWTHeader() *jwt.Headers { return s.JWTHeader }

// Clone deep-copies the session. The embedded Clone would return an *openid.DefaultSession and
// drop the JWT claims on refresh.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	return deepcopy.Copy(s).(fosite.Session)
}

// GetExtraClaims adds the JWT's extra claims (client_id, ...) to introspection responses.
func (s *Session) GetExtraClaims() map[string]interface{} {
	if s.JWTClaims == nil {
		return nil
	}
	return s.JWTClaims.Extra
}

// Claims that tie an access token with no database row (tokens.store_access_tokens: false) to what
// can revoke it; they are set only in that mode.
const (
	ClaimGrantID   = "grant_id"   // the grant (token family): fosite's request id
	ClaimGrantType = "grant_type" // the grant that started the family (GrantType)
)
