package is4test

import (
	"crypto/rand"
	"encoding/base64"
	"testing"
	"time"
)

// v3DDL turns the 4.x schema into 3.1's where the importer reads it (IdentityServer4 3.1.4
// ConfigurationDb.sql and PersistedGrantDb.sql): scopes and secrets hang off ApiResources
// (ApiScopes.ApiResourceId, ApiSecrets), identity claims are IdentityClaims, and PersistedGrants
// has no SessionId, Description or ConsumedTime. SQLite only.
var v3DDL = []string{
	`DROP TABLE "ApiResourceScopes"`, `DROP TABLE "ApiResourceSecrets"`, `DROP TABLE "ApiScopeProperties"`,
	`DROP TABLE "ApiScopeClaims"`, `DROP TABLE "IdentityResourceClaims"`, `DROP TABLE "IdentityResourceProperties"`,
	`DROP TABLE "ApiResourceClaims"`, `DROP TABLE "ApiResourceProperties"`,
	`ALTER TABLE "ApiScopes" ADD COLUMN "ApiResourceId" INTEGER NOT NULL DEFAULT 0`,
	`CREATE TABLE "ApiSecrets" ("Id" INTEGER PRIMARY KEY AUTOINCREMENT, "Description" TEXT NULL, "Value" TEXT NOT NULL, "Expiration" TEXT NULL, "Type" TEXT NOT NULL, "Created" TEXT NOT NULL, "ApiResourceId" INTEGER NOT NULL)`,
	`CREATE TABLE "ApiClaims" ("Id" INTEGER PRIMARY KEY AUTOINCREMENT, "Type" TEXT NOT NULL, "ApiResourceId" INTEGER NOT NULL)`,
	`CREATE TABLE "ApiScopeClaims" ("Id" INTEGER PRIMARY KEY AUTOINCREMENT, "Type" TEXT NOT NULL, "ApiScopeId" INTEGER NOT NULL)`,
	`CREATE TABLE "IdentityClaims" ("Id" INTEGER PRIMARY KEY AUTOINCREMENT, "Type" TEXT NOT NULL, "IdentityResourceId" INTEGER NOT NULL)`,
	`DROP TABLE "PersistedGrants"`,
	`CREATE TABLE "PersistedGrants" ("Key" TEXT NOT NULL PRIMARY KEY, "Type" TEXT NOT NULL, "SubjectId" TEXT NULL, "ClientId" TEXT NOT NULL, "CreationTime" TEXT NOT NULL, "Expiration" TEXT NULL, "Data" TEXT NOT NULL)`,
}

// NewV3 creates an empty IS4 3.1 database (SQLite).
func NewV3(t testing.TB) *Source {
	t.Helper()
	s := New(t, "sqlite")
	for _, q := range v3DDL {
		if _, err := s.DB.Exec(q); err != nil {
			t.Fatalf("is4test: v3 schema: %v\n%s", err, q)
		}
	}
	return s
}

// HandleV3 returns a refresh token handle as IS4 3.x made it: 32 random bytes, base64url (43 chars).
func HandleV3() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// SeedV3 writes a 3.x deployment: API resource api1 with scope api1.read and a secret, client app
// with a SHA-256 secret, user alice (v3 hash) and one live refresh token of hers; it returns the
// client secret and the handle.
func SeedV3(t testing.TB, s *Source) (secret, handle string) {
	t.Helper()
	now := time.Now().UTC()
	api := s.Insert(t, "ApiResources", []string{"Enabled", "Name", "DisplayName", "ShowInDiscoveryDocument", "Created", "NonEditable"},
		true, "api1", "API 1", true, s.Time(now), false)
	s.Insert(t, "ApiScopes", []string{"Enabled", "Name", "Required", "Emphasize", "ShowInDiscoveryDocument", "ApiResourceId"},
		true, "api1.read", false, false, true, api)
	s.Insert(t, "ApiSecrets", []string{"Value", "Type", "Created", "ApiResourceId"}, Sha256("api-secret"), "SharedSecret", s.Time(now), api)
	s.Insert(t, "IdentityResources", []string{"Enabled", "Name", "Required", "Emphasize", "ShowInDiscoveryDocument", "Created", "NonEditable"},
		true, "openid", false, false, true, s.Time(now), false)
	secret = "v3-secret"
	s.AddClient(t, Client{ClientID: "app", Enabled: true, RequireSecret: true, AllowOffline: true, GrantTypes: []string{"password"},
		Scopes: []string{"openid", "api1.read"}, Secrets: []Secret{{Type: "SharedSecret", Value: Sha256(secret)}}})
	alice := "a1c3f6e2-0000-4000-8000-000000000001"
	s.AddUser(t, User{ID: alice, UserName: "alice", PasswordHash: HashV3SHA256})
	handle = HandleV3()
	data := `{"CreationTime":"` + now.Add(-time.Hour).Format("2006-01-02T15:04:05Z") + `","Lifetime":2592000,"AccessToken":{"Audiences":["https://is4.example/resources","api1"],"Issuer":"https://is4.example","CreationTime":"` +
		now.Add(-time.Hour).Format("2006-01-02T15:04:05Z") + `","Lifetime":3600,"Type":"access_token","ClientId":"app","AccessTokenType":0,"Claims":[{"Type":"client_id","Value":"app","ValueType":"http://www.w3.org/2001/XMLSchema#string"},{"Type":"scope","Value":"openid","ValueType":"http://www.w3.org/2001/XMLSchema#string"},{"Type":"scope","Value":"api1.read","ValueType":"http://www.w3.org/2001/XMLSchema#string"},{"Type":"scope","Value":"offline_access","ValueType":"http://www.w3.org/2001/XMLSchema#string"},{"Type":"sub","Value":"` + alice + `","ValueType":"http://www.w3.org/2001/XMLSchema#string"}],"Version":1},"Version":1}`
	s.Insert(t, "PersistedGrants", []string{"Key", "Type", "SubjectId", "ClientId", "CreationTime", "Expiration", "Data"},
		Key(handle), "refresh_token", alice, "app", s.Time(now.Add(-time.Hour)), s.Time(now.Add(30*24*time.Hour)), data)
	return secret, handle
}
