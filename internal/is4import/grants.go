package is4import

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm/clause"

	"github.com/lingpai/lingpai/storage"
)

// RefreshKey is IdentityServer4's PersistedGrants.Key of a refresh token handle
// (DefaultGrantStore.GetHashedKey): base64(SHA-256(handle + ":refresh_token")).
func RefreshKey(handle string) string {
	sum := sha256.Sum256([]byte(handle + ":refresh_token"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// jsonTime reads Newtonsoft's DateTime, with or without an offset (IS4 writes UTC).
type jsonTime struct{ nullTime }

func (j *jsonTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		j.Valid = false
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	return j.Scan(s)
}

type claimLite struct{ Type, Value string }

// refreshData is the Data JSON of a refresh_token row (IS4 RefreshToken, PersistentGrantSerializer).
type refreshData struct {
	CreationTime jsonTime
	Lifetime     int
	ConsumedTime jsonTime
	AccessToken  *struct {
		Audiences []string
		ClientID  string `json:"ClientId"`
		Claims    []claimLite
	}
}

type grantRow struct {
	key, typ, clientID      string
	subject, session, data  nullString
	created, expires, spent nullTime
}

func (im *importer) grantRows(ctx context.Context, typ string, fn func(grantRow) error) error {
	src := im.src
	cols := []string{"Key", "Type", "ClientId", "SubjectId", "Data", "CreationTime", "Expiration"}
	v4 := src.hasColumn(ctx, "PersistedGrants", "ConsumedTime")
	if v4 {
		cols = append(cols, "SessionId", "ConsumedTime")
	}
	for i, c := range cols {
		cols[i] = src.q(c)
	}
	from := src.t("PersistedGrants") + " WHERE " + src.q("Type") + " = '" + typ + "'"
	prog := newProgress(im.out, typ, src.count(ctx, from), im.opts.Progress)
	n := 0
	return src.each(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+from, func(r *sql.Rows) error {
		var g grantRow
		dest := []any{&g.key, &g.typ, &g.clientID, &g.subject, &g.data, &g.created, &g.expires}
		if v4 {
			dest = append(dest, &g.session, &g.spent)
		}
		if err := r.Scan(dest...); err != nil {
			return fmt.Errorf("is4import: PersistedGrants: %w", err)
		}
		n++
		prog.tick(n)
		return fn(g)
	})
}

// known loads what grants may refer to: imported clients and users.
func (im *importer) known(ctx context.Context) (clients, users map[string]bool, err error) {
	list, err := im.store.ListClients(ctx)
	if err != nil {
		return nil, nil, err
	}
	clients = map[string]bool{}
	for _, c := range list {
		clients[c.ID] = true
	}
	ids, err := im.store.UserIDs(ctx)
	if err != nil {
		return nil, nil, err
	}
	users = make(map[string]bool, len(ids))
	for _, id := range ids {
		users[id] = true
	}
	return clients, users, nil
}

func (im *importer) refreshTokens(ctx context.Context, kr *KindReport) error {
	clients, users, err := im.known(ctx)
	if err != nil {
		return err
	}
	// Rows this run does not see again are no longer live at the source; MySQL keeps
	// milliseconds, so the boundary is truncated to be safe against rounding.
	runStart := time.Now().UTC().Truncate(time.Second)
	now := im.opts.Now()
	keys, err := im.store.LegacyRefreshTokenKeys(ctx)
	if err != nil {
		return err
	}
	have := make(map[string]bool, len(keys))
	for _, k := range keys {
		have[k] = true
	}
	var pending []storage.LegacyRefreshToken
	err = im.grantRows(ctx, "refresh_token", func(g grantRow) error {
		kr.Read++
		ref := "refresh token " + g.key[:min(8, len(g.key))] + "…"
		var d refreshData
		if err := json.Unmarshal([]byte(g.data.String()), &d); err != nil || d.AccessToken == nil {
			kr.skip(ref, "malformed Data JSON")
			return nil //nolint:nilerr // a bad row is reported and skipped, never fatal for the rest
		}
		if g.spent.Valid || d.ConsumedTime.Valid {
			// Used at IS4 since an earlier run imported it: used up here too.
			if have[g.key] {
				if _, err := im.store.ConsumeLegacyRefreshToken(ctx, g.key); err != nil {
					return err
				}
			}
			kr.count("consumed at IdentityServer4")
			return nil
		}
		issued := d.CreationTime.Time
		if !d.CreationTime.Valid {
			issued = g.created.Time
		}
		expires := issued.Add(time.Duration(d.Lifetime) * time.Second)
		if g.expires.Valid {
			expires = g.expires.Time
		}
		if !expires.After(now) {
			kr.count("expired")
			return nil
		}
		t := &storage.LegacyRefreshToken{LookupKey: g.key, ClientID: g.clientID, Subject: g.subject.String(),
			SessionID: g.session.String(), Audience: d.AccessToken.Audiences, IssuedAt: issued.UTC(), ExpiresAt: expires.UTC()}
		for _, c := range d.AccessToken.Claims {
			switch c.Type {
			case "scope":
				t.Scopes = append(t.Scopes, c.Value)
			case "sub":
				if t.Subject == "" {
					t.Subject = c.Value
				}
			case "sid":
				if t.SessionID == "" {
					t.SessionID = c.Value
				}
			}
		}
		switch {
		case len(g.key) > 64:
			kr.skip(ref, "Key longer than 64 characters: not an IS4 refresh token key")
			return nil
		case !clients[g.clientID]:
			kr.count("client not imported")
			return nil
		case t.Subject == "" || !users[t.Subject]:
			kr.count("subject not imported")
			return nil
		}
		if !have[g.key] {
			have[g.key] = true
			pending = append(pending, *t)
			kr.Imported++
			if len(pending) < 500 {
				return nil
			}
			err := im.store.CreateLegacyRefreshTokens(ctx, pending)
			pending = pending[:0]
			return err
		}
		if _, err := im.store.SaveLegacyRefreshToken(ctx, t); err != nil {
			return err
		}
		kr.Updated++
		return nil
	})
	if err != nil {
		return err
	}
	if err := im.store.CreateLegacyRefreshTokens(ctx, pending); err != nil {
		return err
	}
	if len(im.opts.Only) == 0 || kr.Read > 0 {
		n, err := im.store.DeleteStaleLegacyRefreshTokens(ctx, runStart)
		if err != nil {
			return err
		}
		if n > 0 {
			kr.note("legacy refresh tokens", "%d imported earlier and no longer live at the source: removed", n)
		}
	}
	return nil
}

// consentData is the Data JSON of a user_consent row (IS4 Consent).
type consentData struct {
	SubjectID  string `json:"SubjectId"`
	ClientID   string `json:"ClientId"`
	Scopes     []string
	Expiration jsonTime
}

func (im *importer) consents(ctx context.Context, kr *KindReport) error {
	clients, users, err := im.known(ctx)
	if err != nil {
		return err
	}
	now := im.opts.Now()
	return im.grantRows(ctx, "user_consent", func(g grantRow) error {
		kr.Read++
		var d consentData
		if err := json.Unmarshal([]byte(g.data.String()), &d); err != nil {
			kr.skip("consent "+g.subject.String()+"/"+g.clientID, "malformed Data JSON")
			return nil //nolint:nilerr // a bad row is reported and skipped, never fatal for the rest
		}
		exp := d.Expiration
		if g.expires.Valid {
			exp.nullTime = g.expires
		}
		switch {
		case exp.Valid && !exp.Time.After(now):
			kr.count("expired")
			return nil
		case !clients[g.clientID]:
			kr.count("client not imported")
			return nil
		case !users[g.subject.String()]:
			kr.count("subject not imported")
			return nil
		}
		var before int64
		im.store.DB(ctx).Model(&storage.Consent{}).Where("user_id = ? AND client_id = ?", g.subject.String(), g.clientID).Count(&before)
		// The consent lasts as long as at IS4 (the client's ConsentLifetime); then the user is asked again.
		row := &storage.Consent{UserID: g.subject.String(), ClientID: g.clientID, Scopes: d.Scopes, UpdatedAt: time.Now().UTC(), ExpiresAt: exp.ptr()}
		if err := im.store.DB(ctx).Clauses(clause.OnConflict{UpdateAll: true}).Create(row).Error; err != nil {
			return fmt.Errorf("is4import: save consent: %w", err)
		}
		if before > 0 {
			kr.Updated++
		} else {
			kr.Imported++
		}
		return nil
	})
}
