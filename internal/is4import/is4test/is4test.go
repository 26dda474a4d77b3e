// Package is4test builds IdentityServer4 databases for tests: IS4 4.1.2's schema (translated in
// testdata by gen.py) with rows written the way IS4 writes them — SharedSecrets as base64
// SHA-256/512, refresh tokens under base64(SHA-256(handle+":refresh_token")) with Newtonsoft
// Data JSON, ASP.NET Identity password hashes from dotnet/aspnetcore's own test vectors.
package is4test

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"database/sql"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite" // "sqlite"
	mysqldrv "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // "pgx"

	"github.com/lingpai/lingpai/storage/storagetest"
)

//go:embed testdata/*.sql testdata/*.tmpl
var schemas embed.FS

// Official ASP.NET Core Identity vectors for the password "my password"
// (dotnet/aspnetcore src/Identity/test/Identity.Test/PasswordHasherTest.cs).
const (
	Password         = "my password"
	HashV2           = "AAABAgMEBQYHCAkKCwwNDg+ukCEMDf0yyQ29NYubggHIVY0sdEUfdyeM+E1LtH1uJg=="
	HashV3SHA256     = "AQAAAAEAACcQAAAAEAABAgMEBQYHCAkKCwwNDg+yWU7rLgUwPZb1Itsmra7cbxw2EFpwpVFIEtP+JIuUEw=="
	HashV3SHA512_10k = "AQAAAAIAACcQAAAAEAABAgMEBQYHCAkKCwwNDg9B0Oxwty+PGIDSp95gcCfzeDvA4sGapUIUov8usXfD6A=="
)

// Source is an IS4 database.
type Source struct {
	Driver, DSN string
	DB          *sql.DB
}

// New creates an empty IS4 v4 database: a file for sqlite, a fresh database for mysql (skipped
// without LINGPAI_TEST_MYSQL_DSN).
func New(t testing.TB, driver string) *Source {
	t.Helper()
	var dsn string
	switch driver {
	case "sqlite":
		dsn = filepath.Join(t.TempDir(), "is4.db")
	case "mysql":
		cfg, err := mysqldrv.ParseDSN(storagetest.MySQLDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		cfg.ParseTime, cfg.Loc = true, time.UTC
		dsn = cfg.FormatDSN()
	case "postgres":
		dsn = postgresDSN(t)
	default:
		t.Fatalf("is4test: driver %q", driver)
	}
	db, err := sql.Open(sqlDriver(driver), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ddl, err := schemas.ReadFile("testdata/is4_v4." + driver + ".sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range strings.Split(string(ddl), ";\n") {
		var lines []string
		for _, l := range strings.Split(stmt, "\n") {
			if !strings.HasPrefix(l, "--") {
				lines = append(lines, l)
			}
		}
		if s := strings.TrimSpace(strings.Join(lines, "\n")); s != "" {
			if _, err := db.Exec(s); err != nil {
				t.Fatalf("is4test: schema: %v\n%s", err, s)
			}
		}
	}
	return &Source{Driver: driver, DSN: dsn, DB: db}
}

// PostgresEnv names the variable that points PostgreSQL tests at a server, e.g.
// postgres://root@127.0.0.1:5432/postgres; without it they are skipped.
const PostgresEnv = "LINGPAI_TEST_POSTGRES_DSN"

func sqlDriver(driver string) string {
	if driver == "postgres" {
		return "pgx"
	}
	return driver
}

// postgresDSN creates a fresh database, dropped when the test ends.
func postgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		t.Skip("POSTGRES TEST SKIPPED: " + PostgresEnv + " is not set")
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", PostgresEnv, err)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "is4_t_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		_ = admin.Close()
	})
	u.Path = "/" + name
	return u.String()
}

// rebind turns ? placeholders into PostgreSQL's $n.
func (s *Source) rebind(q string) string {
	if s.Driver != "postgres" {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// noIdentity are the tables without an int identity Id.
var noIdentity = map[string]bool{"DeviceCodes": true, "PersistedGrants": true, "AspNetRoles": true, "AspNetUsers": true,
	"AspNetUserLogins": true, "AspNetUserRoles": true, "AspNetUserTokens": true}

// Q quotes an identifier for the source's dialect.
func (s *Source) Q(id string) string {
	if s.Driver == "mysql" {
		return "`" + id + "`"
	}
	return `"` + id + `"`
}

// Time is a value for a datetime2 column, written as EF Core writes it on each provider.
func (s *Source) Time(t time.Time) any {
	if s.Driver == "sqlite" {
		return t.UTC().Format("2006-01-02 15:04:05.9999999")
	}
	return t.UTC()
}

// Insert adds one row; cols and vals pair up.
func (s *Source) Insert(t testing.TB, table string, cols []string, vals ...any) int64 {
	t.Helper()
	q := make([]string, len(cols))
	marks := make([]string, len(cols))
	for i, c := range cols {
		q[i], marks[i] = s.Q(c), "?"
	}
	stmt := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", s.Q(table), strings.Join(q, ", "), strings.Join(marks, ", "))
	if s.Driver == "postgres" && !noIdentity[table] {
		var id int64
		if err := s.DB.QueryRow(s.rebind(stmt)+` RETURNING "Id"`, vals...).Scan(&id); err != nil {
			t.Fatalf("is4test: insert into %s: %v", table, err)
		}
		return id
	}
	res, err := s.DB.Exec(s.rebind(stmt), vals...)
	if err != nil {
		t.Fatalf("is4test: insert into %s: %v", table, err)
	}
	id, _ := res.LastInsertId()
	return id
}

// Sha256 and Sha512 are IS4's HashExtensions: base64 of the unsalted digest.
func Sha256(s string) string {
	d := sha256.Sum256([]byte(s))
	return base64.StdEncoding.EncodeToString(d[:])
}
func Sha512(s string) string {
	d := sha512.Sum512([]byte(s))
	return base64.StdEncoding.EncodeToString(d[:])
}

// Handle returns a new refresh token handle as IS4 4.x makes it: 32 random bytes, uppercase hex.
func Handle() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

// Key is PersistedGrants.Key for a refresh token handle.
func Key(handle string) string { return Sha256(handle + ":refresh_token") }

// Client is an IS4 client row with its children.
type Client struct {
	ClientID         string
	RequireSecret    bool
	AllowOffline     bool
	RequirePkce      bool
	RefreshReUse     bool // RefreshTokenUsage ReUse (0); else OneTimeOnly (1)
	Reference        bool // AccessTokenType Reference
	Enabled          bool
	GrantTypes       []string
	Scopes           []string
	RedirectURIs     []string
	CORSOrigins      []string
	Secrets          []Secret
	AccessTokenLife  int
	IDTokenLife      int // IdentityTokenLifetime; 0 is IS4's default, 300
	AbsoluteLifetime int
	RequireConsent   bool
}

// Secret is a ClientSecrets row.
type Secret struct {
	Type, Value string
	Expires     *time.Time
}

// AddClient inserts a client and its children with IS4's model defaults.
func (s *Source) AddClient(t testing.TB, c Client) {
	t.Helper()
	usage, tokenType, life, abs := 1, 0, c.AccessTokenLife, c.AbsoluteLifetime
	if c.RefreshReUse {
		usage = 0
	}
	if c.Reference {
		tokenType = 1
	}
	if life == 0 {
		life = 3600
	}
	if abs == 0 {
		abs = 2592000
	}
	idLife := c.IDTokenLife
	if idLife == 0 {
		idLife = 300
	}
	now := s.Time(time.Now())
	id := s.Insert(t, "Clients", []string{"Enabled", "ClientId", "ProtocolType", "RequireClientSecret", "ClientName", "RequireConsent",
		"AllowRememberConsent", "AlwaysIncludeUserClaimsInIdToken", "RequirePkce", "AllowPlainTextPkce", "RequireRequestObject",
		"AllowAccessTokensViaBrowser", "FrontChannelLogoutSessionRequired", "BackChannelLogoutSessionRequired", "AllowOfflineAccess",
		"IdentityTokenLifetime", "AccessTokenLifetime", "AuthorizationCodeLifetime", "AbsoluteRefreshTokenLifetime",
		"SlidingRefreshTokenLifetime", "RefreshTokenUsage", "UpdateAccessTokenClaimsOnRefresh", "RefreshTokenExpiration",
		"AccessTokenType", "EnableLocalLogin", "IncludeJwtId", "AlwaysSendClientClaims", "ClientClaimsPrefix", "Created",
		"DeviceCodeLifetime", "NonEditable"},
		c.Enabled, c.ClientID, "oidc", c.RequireSecret, "The "+c.ClientID, c.RequireConsent, true, false, c.RequirePkce, false, false, false,
		true, true, c.AllowOffline, idLife, life, 300, abs, 1296000, usage, false, 1, tokenType, true, true, false, "client_", now, 300, false)
	for _, g := range c.GrantTypes {
		s.Insert(t, "ClientGrantTypes", []string{"GrantType", "ClientId"}, g, id)
	}
	for _, sc := range c.Scopes {
		s.Insert(t, "ClientScopes", []string{"Scope", "ClientId"}, sc, id)
	}
	for _, u := range c.RedirectURIs {
		s.Insert(t, "ClientRedirectUris", []string{"RedirectUri", "ClientId"}, u, id)
	}
	for _, o := range c.CORSOrigins {
		s.Insert(t, "ClientCorsOrigins", []string{"Origin", "ClientId"}, o, id)
	}
	for _, sec := range c.Secrets {
		var exp any
		if sec.Expires != nil {
			exp = s.Time(*sec.Expires)
		}
		s.Insert(t, "ClientSecrets", []string{"Value", "Type", "Expiration", "Created", "ClientId"}, sec.Value, sec.Type, exp, now, id)
	}
}

// User is an AspNetUsers row.
type User struct {
	ID, UserName, Email, PasswordHash, Phone string
	PhoneConfirmed                           bool
	LockoutEnd                               *time.Time
	Roles                                    []string
	Claims                                   [][2]string
	Logins                                   [][2]string // provider, key
}

// AddUser inserts a user with roles, claims and logins.
func (s *Source) AddUser(t testing.TB, u User) {
	t.Helper()
	var hash, phone, lockout any
	if u.PasswordHash != "" {
		hash = u.PasswordHash
	}
	if u.Phone != "" {
		phone = u.Phone
	}
	if u.LockoutEnd != nil {
		lockout = s.Time(*u.LockoutEnd)
	}
	s.Insert(t, "AspNetUsers", []string{"Id", "UserName", "NormalizedUserName", "Email", "NormalizedEmail", "EmailConfirmed",
		"PasswordHash", "SecurityStamp", "PhoneNumber", "PhoneNumberConfirmed", "TwoFactorEnabled", "LockoutEnd", "LockoutEnabled", "AccessFailedCount"},
		u.ID, u.UserName, strings.ToUpper(u.UserName), u.Email, strings.ToUpper(u.Email), u.Email != "", hash, "STAMP", phone,
		u.PhoneConfirmed, false, lockout, true, 0)
	for _, r := range u.Roles {
		var roleID string
		err := s.DB.QueryRow(s.rebind("SELECT "+s.Q("Id")+" FROM "+s.Q("AspNetRoles")+" WHERE "+s.Q("Name")+" = ?"), r).Scan(&roleID)
		if err != nil {
			roleID = "role-" + r
			s.Insert(t, "AspNetRoles", []string{"Id", "Name", "NormalizedName"}, roleID, r, strings.ToUpper(r))
		}
		s.Insert(t, "AspNetUserRoles", []string{"UserId", "RoleId"}, u.ID, roleID)
	}
	for _, c := range u.Claims {
		s.Insert(t, "AspNetUserClaims", []string{"UserId", "ClaimType", "ClaimValue"}, u.ID, c[0], c[1])
	}
	for _, l := range u.Logins {
		s.Insert(t, "AspNetUserLogins", []string{"LoginProvider", "ProviderKey", "ProviderDisplayName", "UserId"}, l[0], l[1], l[0], u.ID)
	}
}

// RefreshToken is a PersistedGrants refresh_token row.
type RefreshToken struct {
	Handle, ClientID, Subject string
	Scopes                    []string
	Created                   time.Time
	Lifetime                  int // seconds
	Consumed                  bool
	Data                      string // overrides the generated Data JSON (for malformed rows)
}

// AddRefreshToken stores a refresh token as IS4's DefaultRefreshTokenStore does.
func (s *Source) AddRefreshToken(t testing.TB, r RefreshToken) {
	t.Helper()
	claims := []map[string]string{{"Type": "client_id", "Value": r.ClientID}, {"Type": "sub", "Value": r.Subject},
		{"Type": "sid", "Value": "SID1"}, {"Type": "auth_time", "Value": "1600000000"}, {"Type": "idp", "Value": "local"}}
	for _, sc := range r.Scopes {
		claims = append(claims, map[string]string{"Type": "scope", "Value": sc})
	}
	for _, c := range claims {
		c["ValueType"] = "http://www.w3.org/2001/XMLSchema#string"
	}
	created := r.Created.UTC().Truncate(time.Second)
	var consumed any
	if r.Consumed {
		consumed = created.Add(time.Minute).Format(time.RFC3339)
	}
	data := r.Data
	if data == "" {
		b, _ := json.Marshal(map[string]any{
			"CreationTime": created.Format(time.RFC3339), "Lifetime": r.Lifetime, "ConsumedTime": consumed,
			"AccessToken": map[string]any{"AllowedSigningAlgorithms": []string{}, "Confirmation": nil,
				"Audiences": []string{"api1"}, "Issuer": "https://is4.example", "CreationTime": created.Format(time.RFC3339),
				"Lifetime": 3600, "Type": "access_token", "ClientId": r.ClientID, "AccessTokenType": 0, "Description": nil,
				"Claims": claims, "Version": 4},
			"Version": 4,
		})
		data = string(b)
	}
	var consumedCol any
	if r.Consumed {
		consumedCol = s.Time(created.Add(time.Minute))
	}
	s.Insert(t, "PersistedGrants", []string{"Key", "Type", "SubjectId", "SessionId", "ClientId", "CreationTime", "Expiration", "ConsumedTime", "Data"},
		Key(r.Handle), "refresh_token", r.Subject, "SID1", r.ClientID, s.Time(created),
		s.Time(created.Add(time.Duration(r.Lifetime)*time.Second)), consumedCol, data)
}

// AddConsent stores a user_consent row.
func (s *Source) AddConsent(t testing.TB, subject, clientID string, scopes []string) {
	t.Helper()
	s.AddConsentUntil(t, subject, clientID, scopes, nil)
}

// AddConsentUntil inserts a user_consent row that expires (a client with a ConsentLifetime), as
// IS4's DefaultUserConsentStore writes it: Expiration in the Data JSON and in the column, the key
// derived from clientId|subjectId.
func (s *Source) AddConsentUntil(t testing.TB, subject, clientID string, scopes []string, expires *time.Time) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	var exp, expCol any
	if expires != nil {
		exp, expCol = expires.UTC().Format(time.RFC3339), s.Time(expires.UTC())
	}
	b, _ := json.Marshal(map[string]any{"SubjectId": subject, "ClientId": clientID, "Scopes": scopes,
		"CreationTime": now.Format(time.RFC3339), "Expiration": exp})
	s.Insert(t, "PersistedGrants", []string{"Key", "Type", "SubjectId", "ClientId", "CreationTime", "Expiration", "Data"},
		Sha256(clientID+"|"+subject+":user_consent"), "user_consent", subject, clientID, s.Time(now), expCol, string(b))
}

// AddIdentityResource inserts an IdentityResources row and its IdentityResourceClaims.
func (s *Source) AddIdentityResource(t testing.TB, name string, enabled bool, claims ...string) {
	t.Helper()
	id := s.Insert(t, "IdentityResources", []string{"Enabled", "Name", "DisplayName", "Required", "Emphasize", "ShowInDiscoveryDocument", "Created", "NonEditable"},
		enabled, name, "The "+name+" scope", false, false, true, s.Time(time.Now()), false)
	for _, c := range claims {
		s.Insert(t, "IdentityResourceClaims", []string{"Type", "IdentityResourceId"}, c, id)
	}
}
