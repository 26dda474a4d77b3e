package manage

import (
	"errors"
	"testing"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/storage"
)

func TestCheckClient(t *testing.T) {
	s := &Service{Config: config.Default()}
	cc := storage.StringList{"client_credentials"}
	cases := []struct {
		name  string
		c     storage.Client
		field string // "" = accepted
	}{
		{"machine client", storage.Client{ID: "svc", GrantTypes: cc, Scopes: storage.StringList{"api1"}}, ""},
		{"admin client", storage.Client{ID: "ops", GrantTypes: cc, Scopes: storage.StringList{ScopeAdmin, ScopeAdminRead}}, ""},
		{"code flow", storage.Client{ID: "web", GrantTypes: storage.StringList{"authorization_code"}, RedirectURIs: storage.StringList{"https://app/cb", "com.example.app:/cb"}}, ""},
		{"empty id", storage.Client{GrantTypes: cc}, "client_id"},
		{"id with a slash", storage.Client{ID: "a/b", GrantTypes: cc}, "client_id"},
		{"no grant", storage.Client{ID: "x"}, "grant_types"},
		{"unknown grant", storage.Client{ID: "x", GrantTypes: storage.StringList{"implicit"}}, "grant_types"},
		{"unknown lingpai scope", storage.Client{ID: "x", GrantTypes: cc, Scopes: storage.StringList{"lingpai:everything"}}, "scopes"},
		{"admin scope with a user grant", storage.Client{ID: "x", GrantTypes: storage.StringList{"client_credentials", "password"}, Scopes: storage.StringList{ScopeAdmin}}, "scopes"},
		{"scope with a space", storage.Client{ID: "x", GrantTypes: cc, Scopes: storage.StringList{"a b"}}, "scopes"},
		{"public machine", storage.Client{ID: "x", GrantTypes: cc, Public: true}, "public"},
		{"code without redirect", storage.Client{ID: "x", GrantTypes: storage.StringList{"authorization_code"}}, "redirect_uris"},
		{"relative redirect", storage.Client{ID: "x", GrantTypes: storage.StringList{"authorization_code"}, RedirectURIs: storage.StringList{"/cb"}}, "redirect_uris"},
		{"https without host", storage.Client{ID: "x", GrantTypes: storage.StringList{"authorization_code"}, RedirectURIs: storage.StringList{"https:///cb"}}, "redirect_uris"},
		{"logout with fragment", storage.Client{ID: "x", GrantTypes: cc, PostLogoutRedirectURIs: storage.StringList{"https://app/#x"}}, "post_logout_redirect_uris"},
		{"wildcard origin", storage.Client{ID: "x", GrantTypes: cc, AllowedCORSOrigins: storage.StringList{"https://*.app"}}, "allowed_cors_origins"},
		{"unknown alg", storage.Client{ID: "x", GrantTypes: cc, IDTokenSignedResponseAlg: "HS256"}, "id_token_signed_response_alg"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := s.CheckClient(&c.c)
			var inv *Invalid
			switch {
			case c.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.field != "" && (!errors.As(err, &inv) || inv.Field != c.field):
				t.Fatalf("got %v, want a problem with field %s", err, c.field)
			}
		})
	}
}

func TestCheckSecretAndPhone(t *testing.T) {
	if err := CheckSecret("secret", "fifteen-chars!!"); err == nil {
		t.Fatal("a 15-character secret was accepted")
	}
	if err := CheckSecret("secret", "sixteen-chars!!!"); err != nil {
		t.Fatalf("a 16-character secret was refused: %v", err)
	}
	s := &Service{Config: config.Default()}
	for raw, want := range map[string]string{"13800138000": "+8613800138000", "+86 138 0013 8000": "+8613800138000", "12": "", "abc": ""} {
		got, err := s.NormalizePhone("phone_number", raw)
		var inv *Invalid
		if want == "" && (!errors.As(err, &inv) || inv.Field != "phone_number") || want != "" && got != want {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
}
