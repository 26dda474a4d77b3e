package manage

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/storage"
)

// ClientFields are a client's settable fields, as the API reads and writes them.
type ClientFields struct {
	Name                     string   `json:"name"`
	Public                   bool     `json:"public"`
	GrantTypes               []string `json:"grant_types"`
	Scopes                   []string `json:"scopes"`
	RedirectURIs             []string `json:"redirect_uris"`
	PostLogoutRedirectURIs   []string `json:"post_logout_redirect_uris"`
	Audience                 []string `json:"audience"`
	AllowedCORSOrigins       []string `json:"allowed_cors_origins"`
	RequirePKCE              bool     `json:"require_pkce"`
	SkipConsent              bool     `json:"skip_consent"`
	TrustWeChatOpenID        bool     `json:"trust_wechat_openid"`
	IDTokenSignedResponseAlg string   `json:"id_token_signed_response_alg"`
}

// SecretView describes one extra secret; the secret itself is never shown after creation.
type SecretView struct {
	ID          string     `json:"id"`
	Description string     `json:"description"`
	ExpiresAt   *time.Time `json:"expires_at"`
	CreatedAt   time.Time  `json:"created_at"`
}

// ClientView is a client as the API shows it.
type ClientView struct {
	ID string `json:"client_id"`
	ClientFields
	HasSecret bool         `json:"has_secret"`
	Secrets   []SecretView `json:"secrets"`
	CreatedAt time.Time    `json:"created_at"`
	UpdatedAt time.Time    `json:"updated_at"`
}

// ETag is a strong validator of the client's state: any change to a field or to its secrets
// changes it. It is computed from the content (not updated_at, whose precision differs between
// databases), so a GET and the answer to a write agree.
func (v *ClientView) ETag() string {
	secrets := make([]string, 0, len(v.Secrets))
	for _, s := range v.Secrets {
		secrets = append(secrets, s.ID)
	}
	b, _ := json.Marshal(struct {
		ID string
		ClientFields
		HasSecret bool
		Secrets   []string
	}{v.ID, v.ClientFields, v.HasSecret, secrets})
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

func list(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func fieldsOf(c *storage.Client) ClientFields {
	return ClientFields{Name: c.Name, Public: c.Public, GrantTypes: list(c.GrantTypes), Scopes: list(c.Scopes),
		RedirectURIs: list(c.RedirectURIs), PostLogoutRedirectURIs: list(c.PostLogoutRedirectURIs), Audience: list(c.Audience),
		AllowedCORSOrigins: list(c.AllowedCORSOrigins), RequirePKCE: c.RequirePKCE, SkipConsent: c.SkipConsent,
		TrustWeChatOpenID: c.TrustWeChatOpenID, IDTokenSignedResponseAlg: c.IDTokenSignedResponseAlg}
}

func (f *ClientFields) applyTo(c *storage.Client) {
	c.Name, c.Public, c.GrantTypes, c.Scopes = f.Name, f.Public, f.GrantTypes, f.Scopes
	c.RedirectURIs, c.PostLogoutRedirectURIs, c.Audience, c.AllowedCORSOrigins = f.RedirectURIs, f.PostLogoutRedirectURIs, f.Audience, f.AllowedCORSOrigins
	c.RequirePKCE, c.SkipConsent, c.TrustWeChatOpenID, c.IDTokenSignedResponseAlg = f.RequirePKCE, f.SkipConsent, f.TrustWeChatOpenID, f.IDTokenSignedResponseAlg
	if c.Public {
		c.RequirePKCE = true // a public client cannot keep a secret, so its codes need PKCE
	}
	for _, l := range []*storage.StringList{&c.GrantTypes, &c.Scopes, &c.RedirectURIs, &c.PostLogoutRedirectURIs, &c.Audience} {
		if *l == nil {
			*l = storage.StringList{}
		}
	}
}

func (s *Service) view(ctx context.Context, c *storage.Client) (*ClientView, error) {
	v := &ClientView{ID: c.ID, ClientFields: fieldsOf(c), HasSecret: len(c.SecretHash) > 0, Secrets: []SecretView{},
		CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC()}
	extra, err := s.Store.ClientSecrets(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	for _, cs := range extra {
		sv := SecretView{ID: cs.ID, Description: cs.Description, ExpiresAt: cs.ExpiresAt, CreatedAt: cs.CreatedAt.UTC()}
		if sv.ExpiresAt != nil {
			t := sv.ExpiresAt.UTC()
			sv.ExpiresAt = &t
		}
		v.Secrets = append(v.Secrets, sv)
	}
	return v, nil
}

var (
	clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:~-]{1,191}$`)
	// RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
	scopeToken = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]+$`)
)

// knownGrant reports whether g is a grant type lingpai serves or a custom grant is enabled.
func (s *Service) knownGrant(g string) bool {
	switch g {
	case "authorization_code", "client_credentials", "password", "refresh_token", "password_ad", "sms", "wechat":
		return true
	}
	return s.Config != nil && s.Config.GrantEnabled(g)
}

// CheckClient applies every rule a client must meet, naming the first field that breaks one.
// The lingpai: scope prefix is lingpai's own: only its admin scopes exist there, and they come
// with client_credentials only (an admin token acts for a machine, never for a user).
func (s *Service) CheckClient(c *storage.Client) error {
	if !clientIDPattern.MatchString(c.ID) {
		return invalid("client_id", "1 to 191 letters, digits or . _ : ~ -")
	}
	if len(c.GrantTypes) == 0 {
		return invalid("grant_types", "at least one grant type is required")
	}
	for _, g := range c.GrantTypes {
		if !s.knownGrant(g) {
			return invalid("grant_types", "unknown grant type %q", g)
		}
	}
	for _, sc := range c.Scopes {
		if !scopeToken.MatchString(sc) {
			return invalid("scopes", "%q is not a scope token (RFC 6749 section 3.3)", sc)
		}
		if strings.HasPrefix(sc, "lingpai:") {
			if sc != ScopeAdmin && sc != ScopeAdminRead {
				return invalid("scopes", "unknown scope %q", sc)
			}
			if !slices.Contains(c.GrantTypes, "client_credentials") || len(c.GrantTypes) != 1 {
				return invalid("scopes", "%s is only for a client whose only grant type is client_credentials", sc)
			}
		}
	}
	if c.Public && slices.Contains(c.GrantTypes, "client_credentials") {
		return invalid("public", "a public client cannot use client_credentials: it has no secret to authenticate with")
	}
	if c.Public && c.TrustWeChatOpenID {
		return invalid("trust_wechat_openid", "needs a confidential client")
	}
	if c.Public && c.CanIntrospect {
		return invalid("can_introspect", "needs a confidential client (a resource server with a secret)")
	}
	if slices.Contains(c.GrantTypes, "authorization_code") && len(c.RedirectURIs) == 0 {
		return invalid("redirect_uris", "authorization_code needs at least one redirect URI")
	}
	for _, u := range c.RedirectURIs {
		if err := checkRedirect(u); err != nil {
			return invalid("redirect_uris", "%v", err)
		}
	}
	for _, u := range c.PostLogoutRedirectURIs {
		if err := checkRedirect(u); err != nil {
			return invalid("post_logout_redirect_uris", "%v", err)
		}
	}
	for _, o := range c.AllowedCORSOrigins {
		if err := storage.ValidateOrigin(o); err != nil {
			return invalid("allowed_cors_origins", "%v", err)
		}
	}
	switch c.IDTokenSignedResponseAlg {
	case "", "RS256", "ES256":
	default:
		return invalid("id_token_signed_response_alg", "must be RS256 or ES256")
	}
	return nil
}

// checkRedirect accepts an absolute URI without a fragment (RFC 6749 section 3.1.2), which is
// what fosite compares exactly against the authorization request's.
func checkRedirect(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New(strconvQuote(raw) + " is not a URI")
	case u.Scheme == "" || !u.IsAbs():
		return errors.New(strconvQuote(raw) + " is not absolute")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New(strconvQuote(raw) + " has a fragment")
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host == "":
		return errors.New(strconvQuote(raw) + " has no host")
	}
	return nil
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

// CheckSecret is the rule for a secret an operator chooses.
func CheckSecret(field, secret string) error {
	if len(secret) < MinSecretLength {
		return invalid(field, "a chosen secret has at least %d characters", MinSecretLength)
	}
	return nil
}

// HashSecret hashes a chosen secret slowly (a person chose it and it may be guessable) or, when
// secret is empty, generates a 256-bit one and hashes it fast (nothing to gain at that entropy).
func (s *Service) HashSecret(ctx context.Context, secret string) (hash []byte, generated string, err error) {
	if secret != "" {
		hash, err = s.Hasher.Hash(ctx, []byte(secret))
		return hash, "", err
	}
	if generated, err = hashing.GenerateSecret(); err != nil {
		return nil, "", err
	}
	return hashing.HashGenerated([]byte(generated)), generated, nil
}

// NewClient is what creating a client takes.
type NewClient struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
	ClientFields
}

// CreateClient registers a client; generated is its secret when lingpai made one (shown once).
func (s *Service) CreateClient(ctx context.Context, in NewClient) (v *ClientView, generated string, err error) {
	c := &storage.Client{ID: in.ID}
	in.ClientFields.applyTo(c)
	if c.Name == "" {
		c.Name = c.ID
	}
	if err := s.CheckClient(c); err != nil {
		return nil, "", err
	}
	if c.Public && in.Secret != "" {
		return nil, "", invalid("client_secret", "a public client has no secret")
	}
	if !c.Public {
		if in.Secret != "" {
			if err := CheckSecret("client_secret", in.Secret); err != nil {
				return nil, "", err
			}
		}
		if c.SecretHash, generated, err = s.HashSecret(ctx, in.Secret); err != nil {
			return nil, "", err
		}
	}
	if err := s.Store.CreateClient(ctx, c); err != nil {
		if errors.Is(err, storage.ErrClientExists) {
			return nil, "", ErrExists
		}
		return nil, "", err
	}
	v, err = s.view(ctx, c)
	return v, generated, err
}

// Client reads one client.
func (s *Service) Client(ctx context.Context, id string) (*ClientView, error) {
	// Past the cache: an ETag must describe the row as it is now.
	c, err := s.Store.ClientUncached(ctx, id)
	if errors.Is(err, fosite.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return s.view(ctx, c)
}

// ClientPage is one page of a listing; Next is the cursor for the following page ("" at the end).
type ClientPage struct {
	Items []*ClientView `json:"items"`
	Next  string        `json:"next_cursor"`
}

// EncodeCursor and DecodeCursor keep the cursor opaque to callers.
func EncodeCursor(last string) string { return base64.RawURLEncoding.EncodeToString([]byte(last)) }

// DecodeCursor reverses EncodeCursor.
func DecodeCursor(field, c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", invalid(field, "not a cursor this server issued")
	}
	return string(b), nil
}

// ListClients pages through clients by id.
func (s *Service) ListClients(ctx context.Context, prefix, cursor string, limit int) (*ClientPage, error) {
	after, err := DecodeCursor("cursor", cursor)
	if err != nil {
		return nil, err
	}
	rows, err := s.Store.ClientsPage(ctx, prefix, after, limit+1)
	if err != nil {
		return nil, err
	}
	page := &ClientPage{Items: []*ClientView{}}
	if len(rows) > limit {
		rows = rows[:limit]
		page.Next = EncodeCursor(rows[limit-1].ID)
	}
	for i := range rows {
		v, err := s.view(ctx, &rows[i])
		if err != nil {
			return nil, err
		}
		page.Items = append(page.Items, v)
	}
	return page, nil
}

// UpdateClient replaces a client's settable fields through edit, which receives the current
// fields. ifMatch, when not empty, must be the client's current ETag. Public → confidential
// generates a secret, returned once.
func (s *Service) UpdateClient(ctx context.Context, id, ifMatch string, edit func(*ClientFields) error) (v *ClientView, generated string, err error) {
	c, err := s.Store.ModifyClient(ctx, id, func(ctx context.Context, c *storage.Client) error {
		cur, err := s.view(ctx, c)
		if err != nil {
			return err
		}
		if ifMatch != "" && ifMatch != "*" && ifMatch != cur.ETag() {
			return ErrStale
		}
		f := cur.ClientFields
		if err := edit(&f); err != nil {
			return err
		}
		wasPublic := c.Public
		f.applyTo(c)
		if err := s.CheckClient(c); err != nil {
			return err
		}
		switch {
		case c.Public:
			c.SecretHash = nil
		case wasPublic:
			// A public client made confidential needs a secret before it can authenticate.
			c.SecretHash, generated, err = s.HashSecret(ctx, "")
			return err
		}
		return nil
	})
	switch {
	case errors.Is(err, fosite.ErrNotFound):
		return nil, "", ErrNotFound
	case err != nil:
		return nil, "", err
	}
	v, err = s.view(ctx, c)
	return v, generated, err
}

// DeleteClient removes a client and every token issued to it.
func (s *Service) DeleteClient(ctx context.Context, id string) error {
	err := s.Store.DeleteClient(ctx, id)
	if errors.Is(err, fosite.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

// NewSecret is an extra secret to add; Secret empty means generate one.
type NewSecret struct {
	Secret      string     `json:"secret"`
	Description string     `json:"description"`
	ExpiresAt   *time.Time `json:"expires_at"`
}

// AddSecret gives a confidential client one more secret; its others keep working.
func (s *Service) AddSecret(ctx context.Context, clientID string, in NewSecret) (sv *SecretView, generated string, err error) {
	c, err := s.Store.Client(ctx, clientID)
	if errors.Is(err, fosite.ErrNotFound) {
		return nil, "", ErrNotFound
	}
	if err != nil {
		return nil, "", err
	}
	if c.Public {
		return nil, "", invalid("client_id", "a public client has no secrets")
	}
	if in.Secret != "" {
		if err := CheckSecret("secret", in.Secret); err != nil {
			return nil, "", err
		}
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(s.now()) {
		return nil, "", invalid("expires_at", "must be in the future")
	}
	if len(in.Description) > 2000 {
		return nil, "", invalid("description", "at most 2000 characters")
	}
	hash, generated, err := s.HashSecret(ctx, in.Secret)
	if err != nil {
		return nil, "", err
	}
	cs := &storage.ClientSecret{ClientID: clientID, Hash: hash, Description: in.Description}
	if in.ExpiresAt != nil {
		t := in.ExpiresAt.UTC()
		cs.ExpiresAt = &t
	}
	if err := s.Store.AddClientSecret(ctx, cs); err != nil {
		return nil, "", err
	}
	return &SecretView{ID: cs.ID, Description: cs.Description, ExpiresAt: cs.ExpiresAt, CreatedAt: cs.CreatedAt.UTC()}, generated, nil
}

// DeleteSecret removes one extra secret.
func (s *Service) DeleteSecret(ctx context.Context, clientID, secretID string) error {
	err := s.Store.DeleteClientSecret(ctx, clientID, secretID)
	if errors.Is(err, fosite.ErrNotFound) {
		return ErrNotFound
	}
	return err
}
