package is4import

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/lingpai/lingpai/grants"
	"github.com/lingpai/lingpai/storage"
)

type is4IdentityResource struct {
	rowID             int64
	name, displayName string
	enabled           bool
	claims            []string
}

// identityResources imports IdentityResources (+IdentityResourceClaims; IdentityClaims in v3) as
// claim sets: granting the scope releases those user claims in the id_token and at userinfo.
// The standard OIDC scopes are built into lingpai: a same-named resource adds only the claims it
// lists beyond lingpai's, and the report says so; a custom resource that lists a standard claim
// releases it too, and the report names the standard scope that also does.
func (im *importer) identityResources(ctx context.Context, kr *KindReport) error {
	src := im.src
	if !src.has(ctx, "IdentityResources") {
		return nil
	}
	var list []*is4IdentityResource
	byID := map[int64]*is4IdentityResource{}
	query := fmt.Sprintf("SELECT %s, %s, %s, %s FROM %s ORDER BY %s", src.q("Id"), src.q("Name"), src.q("DisplayName"),
		src.q("Enabled"), src.t("IdentityResources"), src.q("Id"))
	err := src.each(ctx, query, func(r *sql.Rows) error {
		res := &is4IdentityResource{}
		var display nullString
		if err := r.Scan(&res.rowID, &res.name, &display, &res.enabled); err != nil {
			return fmt.Errorf("is4import: IdentityResources: %w", err)
		}
		res.displayName = display.String()
		list = append(list, res)
		byID[res.rowID] = res
		return nil
	})
	if err != nil {
		return err
	}
	claimTable := "IdentityResourceClaims"
	if src.version == "v3" {
		claimTable = "IdentityClaims"
	}
	if src.has(ctx, claimTable) {
		query = fmt.Sprintf("SELECT %s, %s FROM %s ORDER BY %s", src.q("IdentityResourceId"), src.q("Type"), src.t(claimTable), src.q("Id"))
		err = src.each(ctx, query, func(r *sql.Rows) error {
			var id int64
			var typ string
			if err := r.Scan(&id, &typ); err != nil {
				return fmt.Errorf("is4import: %s: %w", claimTable, err)
			}
			if res := byID[id]; res != nil && typ != "" && !slices.Contains(res.claims, typ) {
				res.claims = append(res.claims, typ)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	existing, err := im.store.ClaimSets(ctx)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, cs := range existing {
		have[cs.Scope] = true
	}
	return im.saveClaimSets(ctx, kr, list, have)
}

func (im *importer) saveClaimSets(ctx context.Context, kr *KindReport, list []*is4IdentityResource, have map[string]bool) error {
	std := grants.StandardClaimSets()
	releasedBy := map[string]string{} // standard claim -> its scope
	for scope, names := range std {
		for _, n := range names {
			releasedBy[n] = scope
		}
	}
	for _, r := range list {
		kr.Read++
		claims := slices.DeleteFunc(slices.Clone(r.claims), func(c string) bool { return c == "sub" }) // sub is always in the tokens
		if r.name == "openid" {
			kr.count("openid: built in (sub only)")
			continue
		}
		if base, standard := std[r.name]; standard {
			extra := slices.DeleteFunc(claims, func(c string) bool { return slices.Contains(base, c) })
			if len(extra) == 0 {
				kr.count("standard scope: lingpai's claims are the same")
				continue
			}
			claims = extra
			kr.note(r.name, "standard scope: adds %s to lingpai's claims", strings.Join(extra, ", "))
		} else {
			for _, c := range claims {
				if scope, ok := releasedBy[c]; ok {
					kr.note(r.name, "claim %s is also released by the standard scope %s", c, scope)
				}
			}
		}
		if !r.enabled {
			kr.note(r.name, "disabled at the source: imported disabled (not offered; its claims are withheld)")
		}
		row := &storage.ClaimSet{Scope: r.name, DisplayName: r.displayName, Claims: claims, Enabled: r.enabled, Origin: Origin}
		if err := im.store.SaveClaimSet(ctx, row); err != nil {
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
