package is4import

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/ory/fosite"

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

func (im *importer) users(ctx context.Context, kr *KindReport) error {
	src := im.src
	claims, logins, err := im.userExtras(ctx)
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
		return im.user(ctx, kr, u, claims[u.id], logins[u.id])
	})
	if err != nil {
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

func (im *importer) user(ctx context.Context, kr *KindReport, u is4User, claims []storage.UserClaim, logins []is4Login) error {
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
	row := &storage.User{ID: u.id, Email: u.email.String(), EmailVerified: u.emailConfirmed}
	if name := accounts.NormalizeUsername(u.userName.String()); name != "" {
		other, err := st.UserByUsername(ctx, name)
		switch {
		case err == nil && other.ID != u.id:
			kr.skip(u.id, "username %q belongs to another lingpai user (%s)", name, other.ID)
			return nil
		case err != nil && !errors.Is(err, fosite.ErrNotFound):
			return err
		}
		row.Username = &name
	}
	if raw := u.phoneNum.String(); raw != "" && u.phoneConfirmed {
		p, err := phone.Normalize(raw, im.opts.PhoneRegion)
		if err != nil {
			kr.note(u.id, "phone number left out: %v", err)
		} else if other, err := st.UserByPhone(ctx, p); err == nil && other.ID != u.id {
			kr.note(u.id, "phone number left out: %s belongs to another lingpai user", phone.Mask(p))
		} else if err != nil && !errors.Is(err, fosite.ErrNotFound) {
			return err
		} else {
			row.Phone, row.PhoneVerified = &p, true
		}
	}
	for _, c := range claims {
		if c.Type == "name" && row.Name == "" {
			row.Name = c.Value
		}
	}
	existing, err := st.UserByID(ctx, u.id)
	switch {
	case err == nil:
		row.PasswordHash, row.Disabled = hash, existing.Disabled
		if len(existing.PasswordHash) > 0 && !hashing.NeedsRehash(existing.PasswordHash) {
			// The user has signed in at lingpai since the last run and got a lingpai hash: keep it.
			row.PasswordHash = existing.PasswordHash
		}
		if err := st.SaveUser(ctx, row); err != nil {
			return fmt.Errorf("user %s: %w", u.id, err)
		}
		kr.Updated++
	case errors.Is(err, fosite.ErrNotFound):
		row.PasswordHash = hash
		if err := st.CreateUser(ctx, row); err != nil {
			return fmt.Errorf("user %s: %w", u.id, err)
		}
		kr.Imported++
	default:
		return err
	}
	var until = u.lockoutEnd.ptr()
	if !u.lockoutEnabled || until != nil && !until.After(im.opts.Now()) {
		until = nil
	}
	if err := st.SetUserLockout(ctx, u.id, until); err != nil {
		return err
	}
	if err := st.ReplaceUserClaims(ctx, u.id, Origin, claims); err != nil {
		return err
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
