package storage

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"
)

// StringList is a list stored as a JSON array in a text column, portable across backends.
type StringList []string

// Value implements driver.Valuer.
func (l StringList) Value() (driver.Value, error) {
	if l == nil {
		return "[]", nil
	}
	b, err := json.Marshal([]string(l))
	return string(b), err
}

// Scan implements sql.Scanner.
func (l *StringList) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*l = nil
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("storage: StringList from %T", src)
	}
	return json.Unmarshal(b, (*[]string)(l))
}

// requestRow is the stored form of one fosite request, keyed by the SHA-256 of a token's
// signature. The same shape backs five tables, one per artefact, so each can be swept and indexed
// on its own.
type requestRow struct {
	Signature       string    `gorm:"primaryKey;size:64"`
	RequestID       string    `gorm:"size:64;not null;index"`
	RequestedAt     time.Time `gorm:"not null"`
	ClientID        string    `gorm:"size:191;not null;index"`
	Subject         string    `gorm:"size:191;not null;index"` // indexed: disabling a user revokes by subject
	Scopes          string    `gorm:"type:text;not null"`
	GrantedScopes   string    `gorm:"type:text;not null"`
	Audience        string    `gorm:"type:text;not null"`
	GrantedAudience string    `gorm:"type:text;not null"`
	Form            string    `gorm:"type:text;not null"`
	Session         []byte    `gorm:"type:mediumblob;not null"`
	Active          bool      `gorm:"not null"`
	AccessSignature string    `gorm:"size:64;not null"`
	ExpiresAt       time.Time `gorm:"not null;index"`
	CreatedAt       time.Time `gorm:"not null"`
}

type accessTokenRow requestRow
type refreshTokenRow requestRow
type authorizeCodeRow requestRow
type pkceRow requestRow
type oidcSessionRow requestRow

func (accessTokenRow) TableName() string   { return "access_tokens" }
func (refreshTokenRow) TableName() string  { return "refresh_tokens" }
func (authorizeCodeRow) TableName() string { return "authorize_codes" }
func (pkceRow) TableName() string          { return "pkce_requests" }
func (oidcSessionRow) TableName() string   { return "oidc_sessions" }

// Client is a registered OAuth2 client.
type Client struct {
	ID                     string     `gorm:"primaryKey;size:191"`
	Name                   string     `gorm:"size:255;not null"`
	SecretHash             []byte     `gorm:"type:blob"`
	Public                 bool       `gorm:"not null"`
	RedirectURIs           StringList `gorm:"type:text;not null"`
	PostLogoutRedirectURIs StringList `gorm:"type:text;not null"`
	GrantTypes             StringList `gorm:"type:text;not null"`
	ResponseTypes          StringList `gorm:"type:text;not null"`
	Scopes                 StringList `gorm:"type:text;not null"`
	Audience               StringList `gorm:"type:text;not null"`
	RequirePKCE            bool       `gorm:"not null"`
	SkipConsent            bool       `gorm:"not null"`
	TrustWeChatOpenID      bool       `gorm:"column:trust_wechat_openid;not null"`
	// CanIntrospect marks a resource server: it may introspect any client's access tokens.
	CanIntrospect bool      `gorm:"not null;default:false"`
	CreatedAt     time.Time `gorm:"not null"`
	UpdatedAt     time.Time `gorm:"not null"`

	// IDTokenSignedResponseAlg is the client's id_token algorithm (the name is OpenID Connect
	// Dynamic Client Registration's): "" or RS256 for RS256, ES256 for an ES256 server's own key.
	IDTokenSignedResponseAlg string `gorm:"column:id_token_signed_response_alg;size:16;not null;default:''"`
	// AllowedCORSOrigins are the browser origins (scheme://host[:port]) whose pages may call the
	// token, userinfo, revocation, introspection and SMS code endpoints (IdentityServer4's
	// AllowedCorsOrigins). Nullable so that adding the column leaves existing rows valid.
	AllowedCORSOrigins StringList `gorm:"column:allowed_cors_origins;type:text"`

	defaultAudience []string        `gorm:"-"`
	secrets         []ClientSecret  `gorm:"-"` // extra secrets (imported.go)
	settings        *ClientSettings `gorm:"-"`
}

// User is a local account. Username and Phone are nullable so accounts that come from a directory,
// SMS or WeChat need neither.
type User struct {
	ID            string    `gorm:"primaryKey;size:64"`
	Username      *string   `gorm:"size:191;uniqueIndex"`
	PasswordHash  []byte    `gorm:"type:blob"`
	Name          string    `gorm:"size:255;not null"`
	Email         string    `gorm:"size:255;not null"`
	EmailVerified bool      `gorm:"not null"`
	Phone         *string   `gorm:"size:32;uniqueIndex"`
	PhoneVerified bool      `gorm:"not null"`
	Disabled      bool      `gorm:"not null"`
	CreatedAt     time.Time `gorm:"not null"`
	UpdatedAt     time.Time `gorm:"not null"`
}

// Identity links a user to an external identity (a directory entry, a WeChat unionid/openid).
type Identity struct {
	ID        string    `gorm:"primaryKey;size:64"`
	UserID    string    `gorm:"size:64;not null;index"`
	Provider  string    `gorm:"size:64;not null;uniqueIndex:idx_identity_provider_subject"`
	Subject   string    `gorm:"size:191;not null;uniqueIndex:idx_identity_provider_subject"`
	Claims    []byte    `gorm:"type:blob"`
	CreatedAt time.Time `gorm:"not null"`
	UpdatedAt time.Time `gorm:"not null"`
}

// SigningKey is a JWT signing key. The newest key that is not retired signs; retired keys stay
// published until every token they signed has expired.
type SigningKey struct {
	KID        string     `gorm:"primaryKey;size:64"`
	Algorithm  string     `gorm:"size:16;not null"`
	PrivateJWK []byte     `gorm:"type:blob;not null"`
	CreatedAt  time.Time  `gorm:"not null;index"`
	RetiredAt  *time.Time `gorm:"index"`
}

// SystemSecret is a server-wide secret generated once and shared by every replica.
type SystemSecret struct {
	Name      string    `gorm:"primaryKey;size:64"`
	Value     []byte    `gorm:"type:blob;not null"`
	CreatedAt time.Time `gorm:"not null"`
}

// ThrottleCounter counts failures for one key in one time bucket.
type ThrottleCounter struct {
	SubjectKey string    `gorm:"primaryKey;size:191"`
	Bucket     int64     `gorm:"primaryKey;autoIncrement:false"`
	Count      int       `gorm:"not null"`
	ExpiresAt  time.Time `gorm:"not null;index"`
}

// ThrottleLock refuses a key until LockedUntil.
type ThrottleLock struct {
	SubjectKey  string    `gorm:"primaryKey;size:191"`
	LockedUntil time.Time `gorm:"not null;index"`
}

// jtiRow remembers client assertion JWT ids to stop their replay.
type jtiRow struct {
	JTI       string    `gorm:"primaryKey;size:64"`
	ExpiresAt time.Time `gorm:"not null;index"`
}

func (jtiRow) TableName() string { return "client_assertion_jtis" }

// coreModels are the tables this package owns.
func coreModels() []any {
	return append([]any{
		&accessTokenRow{}, &refreshTokenRow{}, &authorizeCodeRow{}, &pkceRow{}, &oidcSessionRow{},
		&Client{}, &User{}, &Identity{}, &SigningKey{}, &SystemSecret{},
		&ThrottleCounter{}, &ThrottleLock{}, &jtiRow{}, &tokenRevocation{}, &SMSCode{}, &LoginSession{}, &Consent{},
	}, importedModels()...)
}

// Migrate creates or upgrades the schema: the core tables plus extra models that other packages
// own (SMS codes, login sessions, ...), so adding a table needs no edit here. It is idempotent.
func (s *Store) Migrate(ctx context.Context, extra ...any) error {
	models := append(coreModels(), extra...)
	db := s.gdb().WithContext(ctx)
	if s.driver == "mysql" {
		// InnoDB always: Galera replicates InnoDB only, and a table on another engine would be
		// silently local to one node (DESIGN.md "Schema rules"; TestSchemaRules checks it).
		db = db.Set("gorm:table_options", " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin")
	}
	if err := db.AutoMigrate(models...); err != nil {
		return fmt.Errorf("storage: migrate: %w", err)
	}
	return nil
}
