package is4import

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/internal/phone"
	"github.com/lingpai/lingpai/storage"
)

type is4User struct {
	id                              string
	userName, email, hash, phoneNum nullString
	emailConfirmed, phoneConfirmed  bool
	lockoutEnabled                  bool
	lockoutEnd                      nullTime
}

type is4Login struct{ provider, key string }

// userExtras reads claims, roles and logins of every user at once: one query per table instead of
// three per user.
func (im *importer) userExtras(ctx context.Context) (map[string][]storage.UserClaim, map[string][]is4Login, error) {
	src := im.src
	claims := map[string][]storage.UserClaim{}
	query := fmt.Sprintf("SELECT %s, %s, %s FROM %s ORDER BY %s", src.q("UserId"), src.q("ClaimType"), src.q("ClaimValue"),
		src.t("AspNetUserClaims"), src.q("Id"))
	err := src.each(ctx, query, func(r *sql.Rows) error {
		var uid string
		var typ, val nullString
		if err := r.Scan(&uid, &typ, &val); err != nil {
			return fmt.Errorf("is4import: user claims: %w", err)
		}
		if typ.String() != "" {
			claims[uid] = append(claims[uid], storage.UserClaim{Type: typ.String(), Value: val.String()})
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	// Roles become "role" claims, as IS4's ProfileService (via UserClaimsPrincipalFactory) emits them.
	query = fmt.Sprintf("SELECT ur.%s, r.%s FROM %s ur JOIN %s r ON r.%s = ur.%s ORDER BY r.%s", src.q("UserId"), src.q("Name"),
		src.t("AspNetUserRoles"), src.t("AspNetRoles"), src.q("Id"), src.q("RoleId"), src.q("Name"))
	err = src.each(ctx, query, func(r *sql.Rows) error {
		var uid string
		var name nullString
		if err := r.Scan(&uid, &name); err != nil {
			return fmt.Errorf("is4import: user roles: %w", err)
		}
		if name.String() != "" {
			claims[uid] = append(claims[uid], storage.UserClaim{Type: "role", Value: name.String()})
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	logins := map[string][]is4Login{}
	query = fmt.Sprintf("SELECT %s, %s, %s FROM %s", src.q("UserId"), src.q("LoginProvider"), src.q("ProviderKey"), src.t("AspNetUserLogins"))
	err = src.each(ctx, query, func(r *sql.Rows) error {
		var uid string
		var l is4Login
		if err := r.Scan(&uid, &l.provider, &l.key); err != nil {
			return fmt.Errorf("is4import: user logins: %w", err)
		}
		logins[uid] = append(logins[uid], l)
		return nil
	})
	return claims, logins, err
}

// userIndex is lingpai's users as the import sees them, loaded once so a new user costs no
// look-ups, and kept current as the run adds users.
type userIndex struct {
	byID       map[string]storage.User
	byUsername map[string]string // username -> id
	byPhone    map[string]string
	locked     map[string]bool // has a lockout row
	pending    []storage.User
	claims     []storage.UserClaim
}

func (im *importer) loadUserIndex(ctx context.Context) (*userIndex, error) {
	ix := &userIndex{byID: map[string]storage.User{}, byUsername: map[string]string{}, byPhone: map[string]string{}, locked: map[string]bool{}}
	var users []storage.User
	if err := im.store.DB(ctx).Select("id", "username", "phone", "password_hash", "disabled").Find(&users).Error; err != nil {
		return nil, fmt.Errorf("is4import: load users: %w", err)
	}
	for _, u := range users {
		ix.byID[u.ID] = u
		if u.Username != nil {
			ix.byUsername[*u.Username] = u.ID
		}
		if u.Phone != nil {
			ix.byPhone[*u.Phone] = u.ID
		}
	}
	var locked []string
	if err := im.store.DB(ctx).Model(&storage.UserLockout{}).Pluck("user_id", &locked).Error; err != nil {
		return nil, fmt.Errorf("is4import: load lockouts: %w", err)
	}
	for _, id := range locked {
		ix.locked[id] = true
	}
	return ix, nil
}

// flush writes the new users gathered so far in multi-row statements.
func (im *importer) flush(ctx context.Context, ix *userIndex) error {
	err := im.store.CreateUsersBatch(ctx, ix.pending, ix.claims)
	ix.pending, ix.claims = ix.pending[:0], ix.claims[:0]
	return err
}

func (im *importer) users(ctx context.Context, kr *KindReport) error {
	src := im.src
	claims, logins, err := im.userExtras(ctx)
	if err != nil {
		return err
	}
	ix, err := im.loadUserIndex(ctx)
	if err != nil {
		return err
	}
	prog := newProgress(im.out, "users", src.count(ctx, src.t("AspNetUsers")), im.opts.Progress)
	cols := ""
	for i, c := range []string{"Id", "UserName", "Email", "EmailConfirmed", "PasswordHash", "PhoneNumber", "PhoneNumberConfirmed", "LockoutEnabled", "LockoutEnd"} {
		if i > 0 {
			cols += ", "
		}
		cols += src.q(c)
	}
	var unconfirmedPhones, otherLogins int
	err = src.each(ctx, "SELECT "+cols+" FROM "+src.t("AspNetUsers")+" ORDER BY "+src.q("Id"), func(r *sql.Rows) error {
		var u is4User
		if err := r.Scan(&u.id, &u.userName, &u.email, &u.emailConfirmed, &u.hash, &u.phoneNum, &u.phoneConfirmed,
			&u.lockoutEnabled, &u.lockoutEnd); err != nil {
			return fmt.Errorf("is4import: AspNetUsers: %w", err)
		}
		kr.Read++
		prog.tick(kr.Read)
		if u.phoneNum.String() != "" && !u.phoneConfirmed {
			unconfirmedPhones++
		}
		for _, l := range logins[u.id] {
			if _, ok := im.opts.WeChatProviders[l.provider]; !ok {
				otherLogins++
			}
		}
		if err := im.user(ctx, kr, ix, u, claims[u.id], logins[u.id]); err != nil {
			return err
		}
		if len(ix.pending) >= 500 {
			return im.flush(ctx, ix)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := im.flush(ctx, ix); err != nil {
		return err
	}
	if unconfirmedPhones > 0 {
		kr.note("AspNetUsers", "%d unconfirmed phone numbers not imported: only a confirmed phone may sign in by SMS", unconfirmedPhones)
	}
	if otherLogins > 0 {
		kr.note("AspNetUserLogins", "%d external logins of providers not named in --wechat-providers left out", otherLogins)
	}
	return nil
}

func (im *importer) user(ctx context.Context, kr *KindReport, ix *userIndex, u is4User, claims []storage.UserClaim, logins []is4Login) error {
	st := im.store
	if len(u.id) > 64 {
		kr.skip(u.id, "Id longer than 64 characters")
		return nil
	}
	var hash []byte
	if h := u.hash.String(); h != "" {
		if err := hashing.CheckASPNet(h); err != nil {
			kr.skip(u.id, "unreadable PasswordHash: %v", err)
			return nil
		}
		hash = hashing.ASPNetHash(h)
	}
	row := storage.User{ID: u.id, Email: u.email.String(), EmailVerified: u.emailConfirmed}
	if name := accounts.NormalizeUsername(u.userName.String()); name != "" {
		if other, ok := ix.byUsername[name]; ok && other != u.id {
			kr.skip(u.id, "username %q belongs to another lingpai user (%s)", name, other)
			return nil
		}
		if len(name) > 191 {
			kr.skip(u.id, "username longer than 191 characters")
			return nil
		}
		row.Username = &name
	}
	if raw := u.phoneNum.String(); raw != "" && u.phoneConfirmed {
		p, err := phone.Normalize(raw, im.opts.PhoneRegion)
		if err != nil {
			kr.note(u.id, "phone number left out: %v", err)
		} else if other, ok := ix.byPhone[p]; ok && other != u.id {
			kr.note(u.id, "phone number left out: %s belongs to another lingpai user", phone.Mask(p))
		} else {
			row.Phone, row.PhoneVerified = &p, true
		}
	}
	for _, c := range claims {
		if c.Type == "name" && row.Name == "" {
			row.Name = c.Value
		}
	}
	until := u.lockoutEnd.ptr()
	if !u.lockoutEnabled || until != nil && !until.After(im.opts.Now()) {
		until = nil
	}
	existing, exists := ix.byID[u.id]
	if exists {
		// A changed username or phone frees the old one for others in this run.
		if existing.Username != nil {
			delete(ix.byUsername, *existing.Username)
		}
		if existing.Phone != nil {
			delete(ix.byPhone, *existing.Phone)
		}
	}
	ix.byID[u.id] = row
	if row.Username != nil {
		ix.byUsername[*row.Username] = u.id
	}
	if row.Phone != nil {
		ix.byPhone[*row.Phone] = u.id
	}
	if !exists {
		row.PasswordHash = hash
		ix.pending = append(ix.pending, row)
		for _, c := range claims {
			c.UserID, c.Origin = u.id, Origin
			ix.claims = append(ix.claims, c)
		}
		kr.Imported++
	} else {
		row.PasswordHash, row.Disabled = hash, existing.Disabled
		if len(existing.PasswordHash) > 0 && !hashing.NeedsRehash(existing.PasswordHash) {
			// The user has signed in at lingpai since the last run and got a lingpai hash: keep it.
			row.PasswordHash = existing.PasswordHash
		}
		if err := st.SaveUser(ctx, &row); err != nil {
			return fmt.Errorf("user %s: %w", u.id, err)
		}
		if err := st.ReplaceUserClaims(ctx, u.id, Origin, claims); err != nil {
			return err
		}
		kr.Updated++
	}
	if until != nil || ix.locked[u.id] {
		if err := st.SetUserLockout(ctx, u.id, until); err != nil {
			return err
		}
		ix.locked[u.id] = until != nil
	}
	if len(logins) > 0 && !exists {
		// Identities point at the user: it must be in the table first.
		if err := im.flush(ctx, ix); err != nil {
			return err
		}
	}
	for _, l := range logins {
		wp, ok := im.opts.WeChatProviders[l.provider]
		if !ok {
			continue
		}
		provider := "wechat-unionid"
		if !wp.IsUnionID() {
			provider = "wechat-openid:" + wp.AppID
		}
		err := st.LinkIdentity(ctx, &storage.Identity{UserID: u.id, Provider: provider, Subject: l.key})
		if errors.Is(err, storage.ErrIdentityLinked) {
			kr.note(u.id, "%s login left out: already linked to another lingpai user", l.provider)
		} else if err != nil {
			return err
		}
	}
	return nil
}
