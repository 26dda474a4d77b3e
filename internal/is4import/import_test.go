package is4import_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/internal/is4import"
	"github.com/lingpai/lingpai/internal/is4import/is4test"
	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/storagetest"
)

func options(src *is4test.Source) is4import.Options {
	wx, _ := is4import.ParseWeChatProviders("Weixin=oauth:wxWEB,WeChat.MiniProgram=miniprogram:wxMINI")
	return is4import.Options{SourceDriver: src.Driver, SourceDSN: src.DSN, WeChatProviders: wx, PhoneRegion: "CN"}
}

type counts struct{ read, imported, updated, skipped int }

func check(t *testing.T, rep is4import.Report, want map[string]counts) {
	t.Helper()
	for kind, w := range want {
		k := rep.Kind(kind)
		if k == nil {
			t.Fatalf("no report for %s", kind)
		}
		got := counts{k.Read, k.Imported, k.Updated, k.Skipped}
		if got != w {
			var buf bytes.Buffer
			rep.Print(&buf)
			t.Fatalf("%s: got %+v, want %+v\n%s", kind, got, w, buf.String())
		}
	}
}

// pairs are the source and target databases tested: each backend onto itself, and PostgreSQL
// (which lingpai's storage does not run on here) onto SQLite.
func pairs() []struct {
	source string
	target storagetest.Backend
} {
	bs := storagetest.Backends()
	return []struct {
		source string
		target storagetest.Backend
	}{{"sqlite", bs[0]}, {"mysql", bs[1]}, {"postgres", bs[0]}}
}

// TestImport imports a seeded IS4 database from SQLite, MariaDB and PostgreSQL, checks what each
// kind became, then re-runs: everything is updated, nothing duplicated.
func TestImport(t *testing.T) {
	for _, p := range pairs() {
		t.Run(p.source, func(t *testing.T) {
			ctx := context.Background()
			src := is4test.New(t, p.source)
			seed := is4test.Seed(t, src)
			st := p.target.Open(t, storage.Options{})

			// A dry run reports the same and writes nothing.
			o := options(src)
			o.DryRun = true
			dry, err := is4import.Run(ctx, o, st, nil)
			if err != nil {
				t.Fatal(err)
			}
			if cs, _ := st.ListClients(ctx); len(cs) != 0 {
				t.Fatalf("dry run wrote %d clients", len(cs))
			}

			var out bytes.Buffer
			rep, err := is4import.Run(ctx, options(src), st, &out)
			if err != nil {
				t.Fatal(err)
			}
			rep.Print(&out)
			t.Log("\n" + out.String())
			if rep.Version != "v4" || !strings.Contains(out.String(), "v4 schema ("+p.source+")") {
				t.Fatalf("version %q, want v4", rep.Version)
			}
			want := map[string]counts{
				"resources": {1, 1, 0, 0},
				"clients":   {5, 3, 0, 2}, // ref (Reference tokens) and old-js (implicit only) skipped
				"users":     {6, 5, 0, 1}, // eve's hash is unreadable
				"grants":    {6, 2, 0, 4}, // consumed, expired, malformed, client not imported
				"consents":  {1, 1, 0, 0},
			}
			check(t, rep, want)
			check(t, dry, want)
			for _, s := range []string{"skipped ref: AccessTokenType=Reference", "skipped old-js: no grant type", "type X509Thumbprint left out",
				"grant type implicit left out", "unreadable PasswordHash", "malformed Data JSON", "consumed at IdentityServer4", "1 unconfirmed phone"} {
				if !strings.Contains(out.String(), s) {
					t.Errorf("report lacks %q", s)
				}
			}

			app, err := st.Client(ctx, "app")
			if err != nil {
				t.Fatal(err)
			}
			h := hashing.Hasher{}
			accepts := func(secret string) bool {
				for _, hash := range hashing.Alternatives(app.GetHashedSecret()) {
					if h.Compare(ctx, hash, []byte(secret)) == nil {
						return true
					}
				}
				return false
			}
			if !accepts(seed.SecretSHA256) || !accepts(seed.SecretSHA512) || accepts(seed.ExpiredSecret) || accepts("wrong") {
				t.Fatal("app's secrets: want the SHA-256 and SHA-512 ones accepted, the expired and a wrong one refused")
			}
			if g := strings.Join(app.GrantTypes, ","); g != "password,sms,refresh_token" {
				t.Fatalf("app grant types %q", g)
			}
			if !app.GetScopes().Has("offline_access") || strings.Join(app.Audience, ",") != "api1" {
				t.Fatalf("app scopes %v audience %v", app.Scopes, app.Audience)
			}
			if app.Settings() == nil || app.Settings().AccessTokenLifetime != 600 || app.Settings().RefreshTokenReuse {
				t.Fatalf("app settings %+v", app.Settings())
			}
			spa, _ := st.Client(ctx, "spa")
			if !spa.Public || !spa.RequirePKCE || len(spa.AllowedCORSOrigins) != 1 || spa.AllowedCORSOrigins[0] != "https://spa.example" {
				t.Fatalf("spa %+v %+v", spa, spa.Settings())
			}

			alice, err := st.UserByUsername(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			if alice.ID != "a1c3f6e2-0000-4000-8000-000000000001" || alice.Phone == nil || *alice.Phone != "+8613800138000" ||
				!alice.PhoneVerified || alice.Name != "Alice Liddell" || !alice.EmailVerified {
				t.Fatalf("alice %+v", alice)
			}
			if err := h.Compare(ctx, alice.PasswordHash, []byte(is4test.Password)); err != nil {
				t.Fatalf("alice's v2 hash: %v", err)
			}
			claims, _ := st.UserClaims(ctx, alice.ID)
			if len(claims) != 2 || claims[0].Type != "name" || claims[1].Type != "role" || claims[1].Value != "admin" {
				t.Fatalf("alice claims %+v", claims)
			}
			bob, _ := st.UserByUsername(ctx, "bob")
			if bob.Phone != nil {
				t.Fatal("bob's unconfirmed phone became an SMS credential")
			}
			if _, locked, _ := st.UserLockedUntil(ctx, "f0f00000-0000-4000-8000-000000000006"); !locked {
				t.Fatal("frank's lockout was not imported")
			}
			for _, id := range [][2]string{{"wechat-unionid", "UNIONID-DAVE"}, {"wechat-openid:wxMINI", "OPENID-DAVE"}} {
				link, err := st.IdentityOf(ctx, id[0], id[1])
				if err != nil || link.UserID != "d0d00000-0000-4000-8000-000000000004" {
					t.Fatalf("dave's %s identity: %+v %v", id[0], link, err)
				}
			}
			rt, err := st.LegacyRefreshTokenByKey(ctx, is4import.RefreshKey(seed.LiveHandle))
			if err != nil || rt.Subject != alice.ID || rt.ClientID != "app" || strings.Join(rt.Scopes, " ") != "openid api1.read offline_access" {
				t.Fatalf("live refresh token %+v %v", rt, err)
			}
			if c, _ := st.ConsentOf(ctx, alice.ID, "spa"); len(c) != 2 {
				t.Fatalf("consent %v", c)
			}

			// Re-running updates every row and duplicates none.
			again, err := is4import.Run(ctx, options(src), st, nil)
			if err != nil {
				t.Fatal(err)
			}
			check(t, again, map[string]counts{
				"resources": {1, 0, 1, 0}, "clients": {5, 0, 3, 2}, "users": {6, 0, 5, 1}, "grants": {6, 0, 2, 4}, "consents": {1, 0, 1, 0},
			})
			if secrets, _ := st.ClientSecrets(ctx, "app"); len(secrets) != 2 {
				t.Fatalf("app has %d secrets after a re-run, want 2", len(secrets))
			}
			if claims, _ := st.UserClaims(ctx, alice.ID); len(claims) != 2 {
				t.Fatalf("alice has %d claims after a re-run", len(claims))
			}
		})
	}
}

// TestNotIS4 names what is missing when the source is some other database.
func TestNotIS4(t *testing.T) {
	src := is4test.New(t, "sqlite")
	if _, err := src.DB.Exec(`DROP TABLE "Clients"`); err != nil {
		t.Fatal(err)
	}
	st := storagetest.OpenSQLite(t, storage.Options{})
	_, err := is4import.Run(context.Background(), options(src), st, nil)
	if err == nil || !strings.Contains(err.Error(), "not an IdentityServer4 database") || !strings.Contains(err.Error(), "Clients") {
		t.Fatalf("err = %v", err)
	}
	o := options(src)
	o.Only = []string{"users"}
	if _, err := is4import.Run(context.Background(), o, st, nil); err != nil {
		t.Fatalf("--only users needs no Clients table: %v", err)
	}
}

func TestRefreshKey(t *testing.T) {
	// The verified example from IS4's DefaultGrantStore derivation.
	if got := is4import.RefreshKey(strings.Repeat("A", 64)); got != "B72R3CErhnHmwiYvaXlTQRWNwXmix6UlVGNID0oaog0=" {
		t.Fatalf("RefreshKey = %s", got)
	}
}

// TestKindRollsBack: a database error in the middle of a kind rolls that whole kind back and
// stops the run; the kinds before it stay committed. The failure is a trigger on lingpai's
// user_claims refusing one value, after hundreds of users were written in the same transaction.
func TestKindRollsBack(t *testing.T) {
	ctx := context.Background()
	src := is4test.New(t, "sqlite")
	is4test.Seed(t, src)
	is4test.SeedBulk(t, src, 1200)
	src.Insert(t, "AspNetUserClaims", []string{"UserId", "ClaimType", "ClaimValue"}, "d0d00000-0000-4000-8000-000000000004", "x", "boom")
	st := storagetest.OpenSQLite(t, storage.Options{})
	if err := st.DB(ctx).Exec(`CREATE TRIGGER boom BEFORE INSERT ON user_claims WHEN NEW.value = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END`).Error; err != nil {
		t.Fatal(err)
	}
	_, err := is4import.Run(ctx, options(src), st, nil)
	if err == nil || !strings.Contains(err.Error(), "users (rolled back)") {
		t.Fatalf("err = %v", err)
	}
	if ids, _ := st.UserIDs(ctx); len(ids) != 0 {
		t.Fatalf("%d users left after the users kind failed", len(ids))
	}
	if cs, _ := st.ListClients(ctx); len(cs) != 4 { // app, reuse, spa and api1's introspection client
		t.Fatalf("%d clients: the kind before the failure must stay committed", len(cs))
	}
	var n int64
	st.DB(ctx).Model(&storage.LegacyRefreshToken{}).Count(&n)
	if n != 0 {
		t.Fatal("the run went on after the failed kind")
	}
}

// TestImportV3 reads IdentityServer4 3.1's schema: scopes and secrets of API resources in
// ApiScopes/ApiSecrets, PersistedGrants without ConsumedTime, base64url refresh handles.
func TestImportV3(t *testing.T) {
	ctx := context.Background()
	src := is4test.NewV3(t)
	secret, handle := is4test.SeedV3(t, src)
	// 3.x keeps an identity resource's claims in IdentityClaims.
	res := src.Insert(t, "IdentityResources", []string{"Enabled", "Name", "Required", "Emphasize", "ShowInDiscoveryDocument", "Created", "NonEditable"},
		true, "employee", false, false, true, src.Time(time.Now()), false)
	src.Insert(t, "IdentityClaims", []string{"Type", "IdentityResourceId"}, "employee_id", res)
	st := storagetest.OpenSQLite(t, storage.Options{})
	var out bytes.Buffer
	o := options(src)
	o.Issuer = "https://lingpai.example/"
	rep, err := is4import.Run(ctx, o, st, &out)
	if err != nil {
		t.Fatal(err)
	}
	rep.Print(&out)
	if rep.Version != "v3" {
		t.Fatalf("version %q, want v3\n%s", rep.Version, out.String())
	}
	check(t, rep, map[string]counts{"resources": {1, 1, 0, 0}, "identity-resources": {2, 1, 0, 1}, "clients": {1, 1, 0, 0}, "users": {1, 1, 0, 0}, "grants": {1, 1, 0, 0}})
	if sets, err := st.ClaimSets(ctx); err != nil || len(sets) != 1 || sets[0].Scope != "employee" || strings.Join(sets[0].Claims, ",") != "employee_id" {
		t.Fatalf("v3 claim sets %+v %v", sets, err)
	}
	app, _ := st.Client(ctx, "app")
	if strings.Join(app.Audience, ",") != "api1,https://lingpai.example/resources" {
		t.Fatalf("app audience %v: want the API resource and, as IS4 3.x emitted it, <issuer>/resources", app.Audience)
	}
	if err := (hashing.Hasher{}).Compare(ctx, app.GetHashedSecret(), []byte(secret)); err != nil {
		t.Fatalf("v3 client secret: %v", err)
	}
	rt, err := st.LegacyRefreshTokenByKey(ctx, is4import.RefreshKey(handle))
	if err != nil || strings.Join(rt.Scopes, " ") != "openid api1.read offline_access" {
		t.Fatalf("v3 refresh token %+v %v", rt, err)
	}
}

// TestTableNames reads skoruba's renamed Identity tables (--preset skoruba) and EF table
// overrides (--table-map), and says what is missing without them.
func TestTableNames(t *testing.T) {
	ctx := context.Background()
	src := is4test.New(t, "sqlite")
	is4test.Seed(t, src)
	for _, r := range [][2]string{{"AspNetUsers", "Users"}, {"AspNetRoles", "Roles"}, {"AspNetUserRoles", "UserRoles"},
		{"AspNetUserClaims", "UserClaims"}, {"AspNetUserLogins", "UserLogins"}, {"Clients", "OidcClients"}} {
		if _, err := src.DB.Exec(`ALTER TABLE "` + r[0] + `" RENAME TO "` + r[1] + `"`); err != nil {
			t.Fatal(err)
		}
	}
	st := storagetest.OpenSQLite(t, storage.Options{})
	o := options(src)
	if _, err := is4import.Run(ctx, o, st, nil); err == nil || !strings.Contains(err.Error(), "missing Clients, AspNetUsers") {
		t.Fatalf("without the names: %v", err)
	}
	o.Preset, o.TableMap = "skoruba", map[string]string{"Clients": "OidcClients"}
	rep, err := is4import.Run(ctx, o, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	check(t, rep, map[string]counts{"clients": {5, 3, 0, 2}, "users": {6, 5, 0, 1}})
}
