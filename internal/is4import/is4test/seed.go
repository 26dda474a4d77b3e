package is4test

import (
	"testing"
	"time"
)

// Seeded holds what Seed wrote that a test presents later (secrets and handles are never in the
// source in clear, as with IS4).
type Seeded struct {
	SecretSHA256, SecretSHA512, ExpiredSecret string
	LiveHandle, ReuseHandle                   string // refresh tokens of alice for app and reuse
	ConsumedHandle, ExpiredHandle             string
}

// Seed writes a small deployment: five clients (two that must be skipped), six users (one with an
// unreadable hash), refresh tokens live, reusable, consumed, expired, malformed and of a skipped
// client, and one consent.
func Seed(t testing.TB, s *Source) Seeded {
	t.Helper()
	d := Seeded{SecretSHA256: "s3cret-256+/=", SecretSHA512: "s3cret-512", ExpiredSecret: "old-secret",
		LiveHandle: Handle(), ReuseHandle: Handle(), ConsumedHandle: Handle(), ExpiredHandle: Handle()}
	now := time.Now().UTC()
	past := now.Add(-time.Hour)
	api := s.Insert(t, "ApiResources", []string{"Enabled", "Name", "DisplayName", "ShowInDiscoveryDocument", "Created", "NonEditable"},
		true, "api1", "API 1", true, s.Time(now), false)
	s.Insert(t, "ApiResourceScopes", []string{"Scope", "ApiResourceId"}, "api1.read", api)
	s.Insert(t, "ApiResourceSecrets", []string{"Value", "Type", "Created", "ApiResourceId"}, Sha256("api-secret"), "SharedSecret", s.Time(now), api)
	s.Insert(t, "ApiScopes", []string{"Enabled", "Name", "Required", "Emphasize", "ShowInDiscoveryDocument"}, true, "api1.read", false, false, true)
	for _, name := range []string{"openid", "profile"} {
		s.Insert(t, "IdentityResources", []string{"Enabled", "Name", "Required", "Emphasize", "ShowInDiscoveryDocument", "Created", "NonEditable"},
			true, name, false, false, true, s.Time(now), false)
	}
	s.AddClient(t, Client{ClientID: "app", Enabled: true, RequireSecret: true, AllowOffline: true, AccessTokenLife: 600,
		GrantTypes: []string{"password", "sms", "implicit"}, Scopes: []string{"openid", "profile", "api1.read"},
		Secrets: []Secret{{Type: "SharedSecret", Value: Sha256(d.SecretSHA256)}, {Type: "SharedSecret", Value: Sha512(d.SecretSHA512)},
			{Type: "SharedSecret", Value: Sha256(d.ExpiredSecret), Expires: &past}, {Type: "X509Thumbprint", Value: "6B7ACC520305BFDB4F7252DAEB2177CC091FAAE1"}}})
	s.AddClient(t, Client{ClientID: "reuse", Enabled: true, RequireSecret: true, AllowOffline: true, RefreshReUse: true,
		GrantTypes: []string{"password"}, Scopes: []string{"openid", "api1.read"},
		Secrets: []Secret{{Type: "SharedSecret", Value: Sha256("reuse-secret")}}})
	s.AddClient(t, Client{ClientID: "spa", Enabled: true, RequirePkce: true, GrantTypes: []string{"authorization_code"},
		Scopes: []string{"openid", "profile"}, RedirectURIs: []string{"https://spa.example/cb"}, CORSOrigins: []string{"https://spa.example"}})
	s.AddClient(t, Client{ClientID: "ref", Enabled: true, RequireSecret: true, Reference: true, AllowOffline: true,
		GrantTypes: []string{"password"}, Secrets: []Secret{{Type: "SharedSecret", Value: Sha256("x")}}})
	s.AddClient(t, Client{ClientID: "old-js", Enabled: true, GrantTypes: []string{"implicit"}, Scopes: []string{"openid"}})

	future := now.Add(24 * time.Hour)
	s.AddUser(t, User{ID: "a1c3f6e2-0000-4000-8000-000000000001", UserName: "Alice", Email: "alice@example.com", PasswordHash: HashV2,
		Phone: "138 0013 8000", PhoneConfirmed: true, Roles: []string{"admin"}, Claims: [][2]string{{"name", "Alice Liddell"}}})
	s.AddUser(t, User{ID: "b0b00000-0000-4000-8000-000000000002", UserName: "bob", PasswordHash: HashV3SHA256, Phone: "13900139000"})
	s.AddUser(t, User{ID: "c0c00000-0000-4000-8000-000000000003", UserName: "carol", PasswordHash: HashV3SHA512_10k})
	s.AddUser(t, User{ID: "d0d00000-0000-4000-8000-000000000004", UserName: "dave",
		Logins: [][2]string{{"Weixin", "UNIONID-DAVE"}, {"WeChat.MiniProgram", "OPENID-DAVE"}, {"Google", "1234"}}})
	s.AddUser(t, User{ID: "e0e00000-0000-4000-8000-000000000005", UserName: "eve", PasswordHash: "not-a-hash"})
	s.AddUser(t, User{ID: "f0f00000-0000-4000-8000-000000000006", UserName: "frank", PasswordHash: HashV2, LockoutEnd: &future})

	alice := "a1c3f6e2-0000-4000-8000-000000000001"
	s.AddRefreshToken(t, RefreshToken{Handle: d.LiveHandle, ClientID: "app", Subject: alice, Scopes: []string{"openid", "api1.read", "offline_access"},
		Created: now.Add(-24 * time.Hour), Lifetime: 2592000})
	s.AddRefreshToken(t, RefreshToken{Handle: d.ReuseHandle, ClientID: "reuse", Subject: alice, Scopes: []string{"openid", "offline_access"},
		Created: now.Add(-time.Hour), Lifetime: 2592000})
	s.AddRefreshToken(t, RefreshToken{Handle: d.ConsumedHandle, ClientID: "app", Subject: alice, Scopes: []string{"offline_access"},
		Created: now.Add(-time.Hour), Lifetime: 2592000, Consumed: true})
	s.AddRefreshToken(t, RefreshToken{Handle: d.ExpiredHandle, ClientID: "app", Subject: alice, Scopes: []string{"offline_access"},
		Created: now.Add(-48 * time.Hour), Lifetime: 3600})
	s.AddRefreshToken(t, RefreshToken{Handle: Handle(), ClientID: "app", Subject: alice, Created: now, Lifetime: 3600, Data: "{not json"})
	s.AddRefreshToken(t, RefreshToken{Handle: Handle(), ClientID: "ref", Subject: alice, Created: now, Lifetime: 3600})
	s.AddConsent(t, alice, "spa", []string{"openid", "profile"})
	return d
}
