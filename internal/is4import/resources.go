package is4import

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/storage"
)

type is4Resource struct {
	rowID                      int64
	name, displayName          string
	enabled                    bool
	scopes                     []string
	secrets                    []storage.APIResourceSecret
	unreadable, otherSecretTyp int
}

// apiResources reads API resources with their scopes and secrets, from either schema: v4 has
// ApiResourceScopes and ApiResourceSecrets; v3 hangs ApiScopes and ApiSecrets off the resource.
func (im *importer) apiResources(ctx context.Context) ([]*is4Resource, error) {
	src := im.src
	var list []*is4Resource
	byID := map[int64]*is4Resource{}
	query := fmt.Sprintf("SELECT %s, %s, %s, %s FROM %s ORDER BY %s", src.q("Id"), src.q("Name"), src.q("DisplayName"),
		src.q("Enabled"), src.t("ApiResources"), src.q("Id"))
	err := src.each(ctx, query, func(r *sql.Rows) error {
		res := &is4Resource{}
		var display nullString
		if err := r.Scan(&res.rowID, &res.name, &display, &res.enabled); err != nil {
			return fmt.Errorf("is4import: ApiResources: %w", err)
		}
		res.displayName = display.String()
		list = append(list, res)
		byID[res.rowID] = res
		return nil
	})
	if err != nil {
		return nil, err
	}
	scopeTable, scopeCol, secretTable := "ApiResourceScopes", "Scope", "ApiResourceSecrets"
	if src.version == "v3" {
		scopeTable, scopeCol, secretTable = "ApiScopes", "Name", "ApiSecrets"
	}
	query = fmt.Sprintf("SELECT %s, %s FROM %s ORDER BY %s", src.q("ApiResourceId"), src.q(scopeCol), src.t(scopeTable), src.q("Id"))
	err = src.each(ctx, query, func(r *sql.Rows) error {
		var id int64
		var scope string
		if err := r.Scan(&id, &scope); err != nil {
			return fmt.Errorf("is4import: %s: %w", scopeTable, err)
		}
		if res := byID[id]; res != nil {
			res.scopes = append(res.scopes, scope)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !src.has(ctx, secretTable) {
		return list, nil
	}
	query = fmt.Sprintf("SELECT %s, %s, %s, %s, %s FROM %s ORDER BY %s", src.q("ApiResourceId"), src.q("Value"), src.q("Type"),
		src.q("Description"), src.q("Expiration"), src.t(secretTable), src.q("Id"))
	err = src.each(ctx, query, func(r *sql.Rows) error {
		var id int64
		var value, typ, desc nullString
		var exp nullTime
		if err := r.Scan(&id, &value, &typ, &desc, &exp); err != nil {
			return fmt.Errorf("is4import: %s: %w", secretTable, err)
		}
		res := byID[id]
		if res == nil {
			return nil
		}
		if typ.String() != "SharedSecret" {
			res.otherSecretTyp++
			return nil
		}
		hash, err := hashing.IS4SecretHash(value.String())
		if err != nil {
			res.unreadable++
			return nil //nolint:nilerr // counted and reported as unreadable; the resource imports without it
		}
		res.secrets = append(res.secrets, storage.APIResourceSecret{Hash: hash, Description: desc.String(), ExpiresAt: exp.ptr()})
		return nil
	})
	return list, err
}

// scopeAudiences maps each scope to the API resources that hold it: IS4 v4 puts those names in
// aud when the scope is granted, and imported clients get them as their audience.
func (im *importer) scopeAudiences(ctx context.Context) (map[string][]string, error) {
	out := map[string][]string{}
	if !im.src.has(ctx, "ApiResources") {
		return out, nil
	}
	list, err := im.apiResources(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range list {
		if !r.enabled {
			continue
		}
		for _, s := range r.scopes {
			out[s] = append(out[s], r.name)
		}
	}
	return out, nil
}

func (im *importer) resources(ctx context.Context, kr *KindReport) error {
	list, err := im.apiResources(ctx)
	if err != nil {
		return err
	}
	existing, err := im.store.APIResources(ctx)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, r := range existing {
		have[r.Name] = true
	}
	for _, r := range list {
		kr.Read++
		if r.otherSecretTyp > 0 {
			kr.note(r.name, "%d secret(s) of a type other than SharedSecret left out", r.otherSecretTyp)
		}
		if r.unreadable > 0 {
			kr.note(r.name, "%d SharedSecret value(s) unreadable (not base64 of 32 or 64 bytes) left out", r.unreadable)
		}
		row := &storage.APIResource{Name: r.name, DisplayName: r.displayName, Scopes: r.scopes, Enabled: r.enabled}
		if err := im.store.SaveAPIResource(ctx, row, r.secrets); err != nil {
			return err
		}
		if err := im.introspectionClient(ctx, kr, r); err != nil {
			return err
		}
		if have[r.name] {
			kr.Updated++
		} else {
			kr.Imported++
		}
	}
	return nil
}

// apiOrigin tags the secrets of an API resource's introspection client.
const apiOrigin = "is4-api"

// introspectionClient lets an API resource introspect tokens as it did at IS4: HTTP Basic with
// its name and one of its secrets at /connect/introspect. lingpai authenticates introspection
// callers as clients, so the resource becomes a client that may use no grant at all.
func (im *importer) introspectionClient(ctx context.Context, kr *KindReport, r *is4Resource) error {
	if len(r.secrets) == 0 || !r.enabled {
		return nil
	}
	if im.src.has(ctx, "Clients") {
		var n int
		q := "SELECT COUNT(*) FROM " + im.src.t("Clients") + " WHERE " + im.src.q("ClientId") + " = " + im.src.placeholder(1)
		if err := im.src.tx.QueryRowContext(ctx, q, r.name).Scan(&n); err != nil {
			return fmt.Errorf("is4import: Clients: %w", err)
		}
		if n > 0 {
			kr.note(r.name, "secrets not usable for introspection: a client has the same id")
			return nil
		}
	}
	c := &storage.Client{ID: r.name, Name: "API resource " + r.name, GrantTypes: []string{}, Scopes: []string{}}
	var existing storage.Client
	err := im.store.DB(ctx).Where("id = ?", r.name).Take(&existing).Error
	switch {
	case err == nil && len(existing.GrantTypes) > 0:
		kr.note(r.name, "secrets not usable for introspection: lingpai already has a client %q", r.name)
		return nil
	case err == nil:
		c.SecretHash = existing.SecretHash
		if err := im.store.UpdateClient(ctx, c); err != nil {
			return err
		}
	case errors.Is(err, gorm.ErrRecordNotFound):
		if err := im.store.CreateClient(ctx, c); err != nil {
			return err
		}
	default:
		return fmt.Errorf("is4import: look up client: %w", err)
	}
	secrets := make([]storage.ClientSecret, 0, len(r.secrets))
	for _, sec := range r.secrets {
		secrets = append(secrets, storage.ClientSecret{Hash: sec.Hash, Description: sec.Description, ExpiresAt: sec.ExpiresAt})
	}
	return im.store.ReplaceClientSecrets(ctx, r.name, apiOrigin, secrets)
}
