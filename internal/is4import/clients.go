package is4import

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"

	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/storage"
)

// IS4 enum values (IdentityServer4 src/Storage/src/Models/Enums.cs).
const (
	accessTokenReference = 1
	tokenUsageReUse      = 0
	expirationSliding    = 0
)

type is4Client struct {
	rowID                                       int64
	clientID, name, claimsPrefix                string
	enabled, requireSecret, requireConsent      bool
	requirePKCE, allowOffline, alwaysSendClaims bool
	idTokenLife, accessTokenLife, codeLife      int
	absRefreshLife, slidingRefreshLife          int
	refreshUsage, refreshExpiration, tokenType  int
}

// children reads a (ClientId, value...) child table into lists keyed by the client row id.
func (im *importer) children(ctx context.Context, table string, cols ...string) (map[int64][][]string, error) {
	out := map[int64][][]string{}
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = "c." + im.src.q(c)
	}
	query := fmt.Sprintf("SELECT c.%s, %s FROM %s c ORDER BY c.%s", im.src.q("ClientId"), strings.Join(quoted, ", "), im.src.t(table), im.src.q("Id"))
	err := im.src.each(ctx, query, func(r *sql.Rows) error {
		var id int64
		vals := make([]nullString, len(cols))
		dest := []any{&id}
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		if err := r.Scan(dest...); err != nil {
			return fmt.Errorf("is4import: %s: %w", table, err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = v.String()
		}
		out[id] = append(out[id], row)
		return nil
	})
	return out, err
}

func firsts(rows [][]string) []string {
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, r[0])
	}
	return out
}

func (im *importer) clients(ctx context.Context, kr *KindReport) error {
	src := im.src
	cols := []string{"Id", "ClientId", "ClientName", "Enabled", "RequireClientSecret", "RequireConsent", "RequirePkce",
		"AllowOfflineAccess", "AlwaysSendClientClaims", "ClientClaimsPrefix", "IdentityTokenLifetime", "AccessTokenLifetime",
		"AuthorizationCodeLifetime", "AbsoluteRefreshTokenLifetime", "SlidingRefreshTokenLifetime", "RefreshTokenUsage",
		"RefreshTokenExpiration", "AccessTokenType"}
	for i, c := range cols {
		cols[i] = src.q(c)
	}
	var list []is4Client
	err := src.each(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+src.t("Clients")+" ORDER BY "+src.q("Id"), func(r *sql.Rows) error {
		var c is4Client
		var name, prefix nullString
		if err := r.Scan(&c.rowID, &c.clientID, &name, &c.enabled, &c.requireSecret, &c.requireConsent, &c.requirePKCE,
			&c.allowOffline, &c.alwaysSendClaims, &prefix, &c.idTokenLife, &c.accessTokenLife, &c.codeLife,
			&c.absRefreshLife, &c.slidingRefreshLife, &c.refreshUsage, &c.refreshExpiration, &c.tokenType); err != nil {
			return fmt.Errorf("is4import: Clients: %w", err)
		}
		c.name, c.claimsPrefix = name.String(), prefix.String()
		list = append(list, c)
		return nil
	})
	if err != nil {
		return err
	}
	grantTypes, err := im.children(ctx, "ClientGrantTypes", "GrantType")
	if err != nil {
		return err
	}
	scopes, err := im.children(ctx, "ClientScopes", "Scope")
	if err != nil {
		return err
	}
	redirects, err := im.children(ctx, "ClientRedirectUris", "RedirectUri")
	if err != nil {
		return err
	}
	postLogout, err := im.children(ctx, "ClientPostLogoutRedirectUris", "PostLogoutRedirectUri")
	if err != nil {
		return err
	}
	cors, err := im.children(ctx, "ClientCorsOrigins", "Origin")
	if err != nil {
		return err
	}
	claims, err := im.children(ctx, "ClientClaims", "Type", "Value")
	if err != nil {
		return err
	}
	secrets, err := im.secrets(ctx)
	if err != nil {
		return err
	}
	audiences, err := im.scopeAudiences(ctx)
	if err != nil {
		return err
	}
	for _, c := range list {
		kr.Read++
		if err := im.client(ctx, kr, c, grantTypes[c.rowID], firsts(scopes[c.rowID]), firsts(redirects[c.rowID]),
			firsts(postLogout[c.rowID]), firsts(cors[c.rowID]), claims[c.rowID], secrets[c.rowID], audiences); err != nil {
			return fmt.Errorf("client %s: %w", c.clientID, err)
		}
	}
	return nil
}

type is4Secret struct {
	value, typ, description string
	expires                 nullTime
}

func (im *importer) secrets(ctx context.Context) (map[int64][]is4Secret, error) {
	src := im.src
	out := map[int64][]is4Secret{}
	query := fmt.Sprintf("SELECT %s, %s, %s, %s, %s FROM %s ORDER BY %s", src.q("ClientId"), src.q("Value"), src.q("Type"),
		src.q("Description"), src.q("Expiration"), src.t("ClientSecrets"), src.q("Id"))
	err := src.each(ctx, query, func(r *sql.Rows) error {
		var id int64
		var s is4Secret
		var value, typ, desc nullString
		if err := r.Scan(&id, &value, &typ, &desc, &s.expires); err != nil {
			return fmt.Errorf("is4import: ClientSecrets: %w", err)
		}
		s.value, s.typ, s.description = value.String(), typ.String(), desc.String()
		out[id] = append(out[id], s)
		return nil
	})
	return out, err
}

func (im *importer) client(ctx context.Context, kr *KindReport, c is4Client, grantRows [][]string, scopes, redirects,
	postLogout, cors []string, claimRows [][]string, secrets []is4Secret, audiences map[string][]string) error {
	id := c.clientID
	if len(id) > 191 {
		kr.skip(id, "ClientId longer than 191 characters (lingpai's limit)")
		return nil
	}
	if !c.enabled {
		kr.skip(id, "disabled in IdentityServer4")
		return nil
	}
	if c.tokenType == accessTokenReference {
		kr.skip(id, "AccessTokenType=Reference: lingpai's access token format is server-wide (tokens.format), and IS4's reference tokens cannot be carried over")
		return nil
	}
	var grants []string
	add := func(g string) {
		if !slices.Contains(grants, g) {
			grants = append(grants, g)
		}
	}
	for _, row := range grantRows {
		switch g := row[0]; g {
		case "implicit":
			kr.note(id, "grant type implicit left out: lingpai does not issue tokens from the authorize endpoint")
		case "hybrid":
			add("authorization_code")
			kr.note(id, "grant type hybrid imported as authorization_code (response type code only)")
		case "urn:ietf:params:oauth:grant-type:device_code":
			kr.note(id, "device flow left out: lingpai has no device authorization endpoint")
		default:
			add(g) // authorization_code, client_credentials, password and custom grants (password_ad, sms, ...) by name
		}
	}
	if c.allowOffline {
		add("refresh_token")
		if !slices.Contains(scopes, "offline_access") {
			scopes = append(scopes, "offline_access")
		}
	}
	if len(grants) == 0 || (len(grants) == 1 && grants[0] == "refresh_token") {
		kr.skip(id, "no grant type lingpai supports (implicit or device flow only)")
		return nil
	}

	var secretRows []storage.ClientSecret
	if c.requireSecret {
		for i, s := range secrets {
			ref := fmt.Sprintf("secret #%d", i+1)
			if s.description != "" {
				ref += " (" + s.description + ")"
			}
			if s.typ != "SharedSecret" {
				kr.note(id, "%s of type %s left out: only SharedSecret is imported", ref, s.typ)
				continue
			}
			hash, err := hashing.IS4SecretHash(s.value)
			if err != nil {
				kr.note(id, "%s left out: %v", ref, err)
				continue
			}
			if s.expires.Valid && !s.expires.Time.After(im.opts.Now()) {
				kr.note(id, "%s left out: expired %s", ref, s.expires.Time.Format("2006-01-02"))
				continue
			}
			secretRows = append(secretRows, storage.ClientSecret{Hash: hash, Description: s.description, ExpiresAt: s.expires.ptr()})
		}
		if len(secretRows) == 0 {
			kr.note(id, "confidential client without a usable secret: it cannot authenticate until one is added (lingpai client create)")
		}
	}

	var aud []string
	for _, s := range scopes {
		for _, a := range audiences[s] {
			if !slices.Contains(aud, a) {
				aud = append(aud, a)
			}
		}
	}
	legacyAud := (im.opts.LegacyResourceAudience || im.src.version == "v3") && im.opts.Issuer != ""
	if legacyAud {
		aud = append(aud, strings.TrimRight(im.opts.Issuer, "/")+"/resources")
	}
	row := storage.Client{
		ID: id, Name: c.name, Public: !c.requireSecret, RedirectURIs: redirects, PostLogoutRedirectURIs: postLogout,
		GrantTypes: grants, Scopes: scopes, Audience: aud, RequirePKCE: c.requirePKCE, SkipConsent: !c.requireConsent,
	}
	if row.Name == "" {
		row.Name = id
	}
	// AllowedCorsOrigins become the client's CORS origins, which lingpai enforces; one that is not
	// an exact origin (a path, a wildcard) is left out and reported.
	for _, o := range cors {
		o = strings.ToLower(strings.TrimSpace(o))
		if err := storage.ValidateOrigin(o); err != nil {
			kr.note(id, "CORS origin %q left out: %v", o, err)
			continue
		}
		row.AllowedCORSOrigins = append(row.AllowedCORSOrigins, o)
	}
	var existing storage.Client
	err := im.store.DB(ctx).Where("id = ?", id).Take(&existing).Error
	switch {
	case err == nil:
		// What lingpai adds and IS4 cannot know stays: a secret set at lingpai, WeChat trust.
		row.SecretHash, row.TrustWeChatOpenID, row.ResponseTypes = existing.SecretHash, existing.TrustWeChatOpenID, existing.ResponseTypes
		if err := im.store.UpdateClient(ctx, &row); err != nil {
			return err
		}
		kr.Updated++
	case errors.Is(err, gorm.ErrRecordNotFound):
		if err := im.store.CreateClient(ctx, &row); err != nil {
			return err
		}
		kr.Imported++
	default:
		return fmt.Errorf("is4import: look up client: %w", err)
	}
	if err := im.store.ReplaceClientSecrets(ctx, id, Origin, secretRows); err != nil {
		return err
	}
	var claimList []string
	for _, cl := range claimRows {
		claimList = append(claimList, cl[0]+"="+cl[1])
	}
	return im.store.SaveClientSettings(ctx, &storage.ClientSettings{
		ClientID: id, AccessTokenLifetime: c.accessTokenLife, IDTokenLifetime: c.idTokenLife, AuthCodeLifetime: c.codeLife,
		AbsoluteRefreshLifetime: c.absRefreshLife, SlidingRefreshLifetime: c.slidingRefreshLife,
		RefreshTokenReuse: c.refreshUsage == tokenUsageReUse, RefreshTokenSliding: c.refreshExpiration == expirationSliding,
		ClientClaims: claimList, ClaimsPrefix: c.claimsPrefix, AlwaysSendClientClaims: c.alwaysSendClaims,
		LegacyResourceAudience: legacyAud,
	})
}
