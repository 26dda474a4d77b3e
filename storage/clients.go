package storage

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/internal/hashing"
	"gorm.io/gorm"
)

var (
	_ fosite.Client             = (*Client)(nil)
	_ fosite.ResponseModeClient = (*Client)(nil)
)

// GetID implements fosite.Client.
func (c *Client) GetID() string { return c.ID }

// GetHashedSecret implements fosite.Client: the client's secret hash, joined (hashing.Any) with
// the hashes of its other live secrets (imported or added), so a client authentication is one
// comparison, counted once by the throttle, whichever secret the client presents.
func (c *Client) GetHashedSecret() []byte {
	rotated := c.liveSecretHashes()
	if len(rotated) == 0 {
		return c.SecretHash
	}
	return hashing.Any(append([][]byte{c.SecretHash}, rotated...)...)
}

// GetRedirectURIs implements fosite.Client.
func (c *Client) GetRedirectURIs() []string { return c.RedirectURIs }

// GetGrantTypes implements fosite.Client.
func (c *Client) GetGrantTypes() fosite.Arguments { return fosite.Arguments(c.GrantTypes) }

// GetResponseTypes implements fosite.Client; a client that may use the code grant gets "code".
func (c *Client) GetResponseTypes() fosite.Arguments {
	if len(c.ResponseTypes) > 0 {
		return fosite.Arguments(c.ResponseTypes)
	}
	return fosite.Arguments{"code"}
}

// GetResponseModes implements fosite.ResponseModeClient: every client may have the code returned
// in the query or by form_post.
func (c *Client) GetResponseModes() []fosite.ResponseModeType {
	return []fosite.ResponseModeType{fosite.ResponseModeDefault, fosite.ResponseModeQuery, fosite.ResponseModeFormPost}
}

// GetScopes implements fosite.Client.
func (c *Client) GetScopes() fosite.Arguments { return fosite.Arguments(c.Scopes) }

// IsPublic implements fosite.Client.
func (c *Client) IsPublic() bool { return c.Public }

// GetAudience implements fosite.Client: the registered audience, or the server's default.
func (c *Client) GetAudience() fosite.Arguments {
	if len(c.Audience) > 0 {
		return fosite.Arguments(c.Audience)
	}
	return fosite.Arguments(c.defaultAudience)
}

// ErrClientExists is returned when creating a client whose id is taken.
var ErrClientExists = errors.New("storage: client already exists")

// clientCache keeps clients for a short TTL: a client lookup is on every token request, while a
// client change may take up to the TTL to reach every replica.
type clientCache struct {
	ttl time.Duration
	mu  sync.RWMutex
	m   map[string]cachedClient
}

type cachedClient struct {
	c   *Client
	exp time.Time
}

func (cc *clientCache) get(id string, now time.Time) (*Client, bool) {
	if cc.ttl <= 0 {
		return nil, false
	}
	cc.mu.RLock()
	defer cc.mu.RUnlock()
	e, ok := cc.m[id]
	if !ok || now.After(e.exp) {
		return nil, false
	}
	return e.c, true
}

func (cc *clientCache) put(c *Client, now time.Time) {
	if cc.ttl <= 0 {
		return
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.m == nil || len(cc.m) > 10000 {
		cc.m = map[string]cachedClient{}
	}
	cc.m[c.ID] = cachedClient{c: c, exp: now.Add(cc.ttl)}
}

func (cc *clientCache) forget(id string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	delete(cc.m, id)
}

// GetClient implements fosite.ClientManager. Unknown is fosite.ErrNotFound.
func (s *Store) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := s.Client(ctx, id)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Client loads one client (through the cache).
func (s *Store) Client(ctx context.Context, id string) (*Client, error) {
	now := s.now()
	if c, ok := s.clients.get(id, now); ok {
		return c, nil
	}
	var c Client
	err := s.db(ctx).Where("id = ?", id).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: get client: %w", err)
	}
	c.defaultAudience = s.opts.DefaultAudience
	if err := s.loadClientExtras(ctx, &c); err != nil {
		return nil, err
	}
	s.clients.put(&c, now)
	return &c, nil
}

// GetIDTokenSignedResponseAlg is the algorithm the client wants its id_tokens signed with ("" for
// the default, RS256).
func (c *Client) GetIDTokenSignedResponseAlg() string { return c.IDTokenSignedResponseAlg }

// validate checks the fields lingpai reads with rules of their own.
func (c *Client) validate() error {
	switch c.IDTokenSignedResponseAlg {
	case "", "RS256", "ES256":
	default:
		return fmt.Errorf("storage: client %s: id_token_signed_response_alg must be RS256 or ES256, got %q", c.ID, c.IDTokenSignedResponseAlg)
	}
	for _, o := range c.AllowedCORSOrigins {
		if err := ValidateOrigin(o); err != nil {
			return fmt.Errorf("storage: client %s: allowed_cors_origins: %w", c.ID, err)
		}
	}
	return nil
}

// ValidateOrigin accepts an exact web origin (RFC 6454): http or https, a host, an optional port,
// nothing else: no path (not even "/"), query, fragment, user info or wildcard.
func ValidateOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil {
		return fmt.Errorf("%q is not a URL", o)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: the scheme must be http or https", o)
	case u.Host == "" || u.Hostname() == "" || strings.Contains(o, "*"):
		return fmt.Errorf("%q: an exact host is required (no wildcard)", o)
	case u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(o, "?#"):
		return fmt.Errorf("%q: an origin has no path, query or fragment (scheme://host[:port])", o)
	case u.Port() == "" && strings.HasSuffix(u.Host, ":"):
		return fmt.Errorf("%q: empty port", o)
	case strings.ToLower(o) != o:
		return fmt.Errorf("%q: write the origin in lower case, as browsers send it", o)
	}
	return nil
}

// CORSOriginAllowed reports whether some client lists origin in allowed_cors_origins. The set is
// cached as clients are (server.cache_ttl).
func (s *Store) CORSOriginAllowed(ctx context.Context, origin string) (bool, error) {
	now := s.now()
	s.origins.mu.Lock()
	set, fresh := s.origins.set, now.Before(s.origins.exp)
	s.origins.mu.Unlock()
	if !fresh || s.opts.ClientCacheTTL <= 0 {
		var rows []StringList
		err := s.db(ctx).Model(&Client{}).Where("allowed_cors_origins IS NOT NULL AND allowed_cors_origins <> ?", "[]").
			Pluck("allowed_cors_origins", &rows).Error
		if err != nil {
			return false, fmt.Errorf("storage: cors origins: %w", err)
		}
		set = map[string]bool{}
		for _, l := range rows {
			for _, o := range l {
				set[o] = true
			}
		}
		s.origins.mu.Lock()
		s.origins.set, s.origins.exp = set, now.Add(s.opts.ClientCacheTTL)
		s.origins.mu.Unlock()
	}
	return set[origin], nil
}

// originCache is the set of every client's allowed CORS origins.
type originCache struct {
	mu  sync.Mutex
	set map[string]bool
	exp time.Time
}

func (oc *originCache) forget() {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	oc.exp = time.Time{}
}

// CreateClient registers a client.
func (s *Store) CreateClient(ctx context.Context, c *Client) error {
	if err := c.validate(); err != nil {
		return err
	}
	now := s.now()
	c.CreatedAt, c.UpdatedAt = now, now
	if err := s.db(ctx).Create(c).Error; err != nil {
		if isDuplicate(err) {
			return ErrClientExists
		}
		return fmt.Errorf("storage: create client: %w", err)
	}
	s.origins.forget()
	return nil
}

// UpdateClient saves every field of a client.
func (s *Store) UpdateClient(ctx context.Context, c *Client) error {
	if err := c.validate(); err != nil {
		return err
	}
	c.UpdatedAt = s.now()
	res := s.db(ctx).Model(&Client{}).Where("id = ?", c.ID).Select("*").Omit("created_at").Updates(c)
	if res.Error != nil {
		return fmt.Errorf("storage: update client: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return fosite.ErrNotFound
	}
	s.clientChanged(c.ID)
	s.origins.forget()
	return nil
}

// ListClients returns every client, ordered by id.
func (s *Store) ListClients(ctx context.Context) ([]Client, error) {
	var out []Client
	if err := s.db(ctx).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("storage: list clients: %w", err)
	}
	return out, nil
}

// DeleteClient removes a client and every token issued to it.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	err := s.Transaction(ctx, func(ctx context.Context) error {
		res := s.db(ctx).Where("id = ?", id).Delete(&Client{})
		if res.Error != nil {
			return fmt.Errorf("storage: delete client: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return fosite.ErrNotFound
		}
		for _, m := range []any{&ClientSecret{}, &ClientSettings{}} { // imported.go's tables
			if err := s.db(ctx).Where("client_id = ?", id).Delete(m).Error; err != nil {
				return fmt.Errorf("storage: delete client extras: %w", err)
			}
		}
		for _, t := range []string{tblAccess, tblRefresh, tblCode, tblPKCE, tblOIDC} {
			if err := s.db(ctx).Table(t).Where("client_id = ?", id).Delete(&requestRow{}).Error; err != nil {
				return fmt.Errorf("storage: delete client tokens: %w", err)
			}
		}
		return nil
	})
	s.clientChanged(id)
	return err
}

// OnClientChange registers fn to run after a client is updated or deleted in this process (the
// client-authentication cache drops the client's entries). Register at start-up, before serving.
func (s *Store) OnClientChange(fn func(id string)) {
	s.clientHooks = append(s.clientHooks, fn)
}

func (s *Store) clientChanged(id string) {
	s.clients.forget(id)
	for _, fn := range s.clientHooks {
		fn(id)
	}
}

// GetName is the client's display name (its id when it has none).
func (c *Client) GetName() string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// MustUsePKCE reports whether the client must send a code_challenge.
func (c *Client) MustUsePKCE() bool { return c.RequirePKCE }

// NeedsConsent reports whether users are asked before the client gets their data.
func (c *Client) NeedsConsent() bool { return !c.SkipConsent }

// GetPostLogoutRedirectURIs lists where endsession may send the browser back to.
func (c *Client) GetPostLogoutRedirectURIs() []string { return c.PostLogoutRedirectURIs }

// CanIntrospectAny reports whether the client is a resource server that may introspect any
// client's access tokens (handlers.Introspector).
func (c *Client) CanIntrospectAny() bool { return c.CanIntrospect && !c.Public }

// TrustsWeChatOpenID reports whether the client may assert a bare WeChat openId (a confidential
// backend registered for it).
func (c *Client) TrustsWeChatOpenID() bool { return c.TrustWeChatOpenID && !c.Public }

// ClientUncached reads one client from the database, past the cache (and refreshes the cache).
func (s *Store) ClientUncached(ctx context.Context, id string) (*Client, error) {
	s.clients.forget(id)
	return s.Client(ctx, id)
}

// ModifyClient changes one client in a transaction: it reads the row (locked by primary key),
// lets change edit it (with the transaction's ctx; an error from change writes nothing) and saves
// every field. Two modifications of the same client therefore see each other: the later one's
// change runs on the earlier one's result (on Galera the loser is retried by Transaction).
func (s *Store) ModifyClient(ctx context.Context, id string, change func(ctx context.Context, c *Client) error) (*Client, error) {
	var out Client
	err := s.Transaction(ctx, func(ctx context.Context) error {
		var c Client
		err := s.forUpdate(ctx).Where("id = ?", id).Take(&c).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return fosite.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("storage: modify client: %w", err)
		}
		if err := change(ctx, &c); err != nil {
			return err
		}
		if err := c.validate(); err != nil {
			return err
		}
		c.UpdatedAt = s.now()
		if err := s.db(ctx).Model(&Client{}).Where("id = ?", id).Select("*").Omit("created_at").Updates(&c).Error; err != nil {
			return fmt.Errorf("storage: modify client: %w", err)
		}
		out = c
		return nil
	})
	s.clients.forget(id)
	s.origins.forget()
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ClientsPage lists up to limit clients whose id starts with prefix and sorts after after, by id.
func (s *Store) ClientsPage(ctx context.Context, prefix, after string, limit int) ([]Client, error) {
	q := s.db(ctx).Order("id").Limit(limit)
	if prefix != "" {
		q = q.Where("id LIKE ? ESCAPE '!'", likePrefix(prefix))
	}
	if after != "" {
		q = q.Where("id > ?", after)
	}
	var out []Client
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("storage: list clients: %w", err)
	}
	return out, nil
}

// likePrefix is a LIKE pattern matching strings that start with p ('!' escapes the wildcards).
func likePrefix(p string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(p) + "%"
}

// AddClientSecret stores one more secret for a client (lingpai's own origin); the client's other
// secrets keep working.
func (s *Store) AddClientSecret(ctx context.Context, cs *ClientSecret) error {
	cs.ID, cs.Origin, cs.CreatedAt = NewID(), "", s.now()
	if err := s.db(ctx).Create(cs).Error; err != nil {
		return fmt.Errorf("storage: add client secret: %w", err)
	}
	s.clients.forget(cs.ClientID)
	return nil
}

// DeleteClientSecret removes one of a client's extra secrets; fosite.ErrNotFound when it has none
// with that id.
func (s *Store) DeleteClientSecret(ctx context.Context, clientID, id string) error {
	res := s.db(ctx).Where("client_id = ? AND id = ?", clientID, id).Delete(&ClientSecret{})
	if res.Error != nil {
		return fmt.Errorf("storage: delete client secret: %w", res.Error)
	}
	s.clients.forget(clientID)
	if res.RowsAffected == 0 {
		return fosite.ErrNotFound
	}
	return nil
}
