package grants

import (
	"context"
	"slices"
	"testing"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/internal/session"
)

// TestPolicyEveryGrant walks every grant lingpai serves (the seed's seven and the pin example)
// through the shared rules: one place decides scopes and audience for all of them.
func TestPolicyEveryGrant(t *testing.T) {
	cfg := &fosite.Config{ScopeStrategy: fosite.ExactScopeStrategy, AudienceMatchingStrategy: fosite.DefaultAudienceMatchingStrategy}
	all := []string{"authorization_code", "client_credentials", "password", "refresh_token", "password_ad", "sms", "wechat", "pin"}
	p := &Policy{GrantTypes: all, Config: cfg}
	clientScopes := fosite.Arguments{"openid", "profile", "offline_access", "api1", "api2"}
	cases := []struct {
		name      string
		requested fosite.Arguments
		audience  fosite.Arguments
		// want is the granted scope for grants that decide now; nil means "the client's, less
		// identity scopes where there is no user".
		want    fosite.Arguments
		wantAud fosite.Arguments
		err     *fosite.RFC6749Error
	}{
		{name: "scope omitted", want: nil, wantAud: fosite.Arguments{"https://api.example"}},
		{name: "subset", requested: fosite.Arguments{"api1"}, want: fosite.Arguments{"api1"}, wantAud: fosite.Arguments{"https://api.example"}},
		{name: "not allowed", requested: fosite.Arguments{"api1", "admin"}, err: fosite.ErrInvalidScope},
		{name: "audience not allowed", audience: fosite.Arguments{"https://other.example"}, err: fosite.ErrInvalidRequest},
	}
	for _, gt := range all {
		for _, tc := range cases {
			t.Run(gt+"/"+tc.name, func(t *testing.T) {
				client := &fosite.DefaultClient{ID: "c1", GrantTypes: fosite.Arguments{gt}, Scopes: clientScopes, Audience: fosite.Arguments{"https://api.example"}}
				ar := fosite.NewAccessRequest(session.New())
				ar.GrantTypes = fosite.Arguments{gt}
				ar.Client = client
				ar.SetRequestedScopes(tc.requested)
				ar.SetRequestedAudience(tc.audience)
				if !p.CanHandleTokenEndpointRequest(context.Background(), ar) {
					t.Fatal("policy does not govern an enabled grant")
				}
				err := p.HandleTokenEndpointRequest(context.Background(), ar)
				if carried(gt) {
					// Codes and refresh tokens carry the scopes of their original grant: fosite's
					// handlers restore them; nothing is decided (or granted) here.
					if err != nil || len(ar.GetGrantedScopes()) != 0 || len(ar.GetGrantedAudience()) != 0 {
						t.Fatalf("carried grant decided here: err %v, granted %v %v", err, ar.GetGrantedScopes(), ar.GetGrantedAudience())
					}
					return
				}
				if tc.err != nil {
					if !errorsIs(err, tc.err) {
						t.Fatalf("got %v, want %s", err, tc.err.ErrorField)
					}
					if len(ar.GetGrantedScopes()) != 0 {
						t.Fatalf("granted %v on a refused request", ar.GetGrantedScopes())
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				want := tc.want
				if want == nil {
					want = clientScopes
					if gt == "client_credentials" {
						want = fosite.Arguments{"api1", "api2"} // no user: no identity scopes
					}
				}
				if !slices.Equal(ar.GetGrantedScopes(), want) {
					t.Fatalf("granted %v, want %v", ar.GetGrantedScopes(), want)
				}
				if !slices.Equal(ar.GetGrantedAudience(), tc.wantAud) {
					t.Fatalf("audience %v, want %v", ar.GetGrantedAudience(), tc.wantAud)
				}
			})
		}
	}
}

// TestPolicyClientMustHoldGrant: unauthorized_client for every grant the client is not
// registered for, and for a public client asking for client_credentials (RFC 6749 4.4).
func TestPolicyClientMustHoldGrant(t *testing.T) {
	cfg := &fosite.Config{ScopeStrategy: fosite.ExactScopeStrategy, AudienceMatchingStrategy: fosite.DefaultAudienceMatchingStrategy}
	all := []string{"authorization_code", "client_credentials", "password", "refresh_token", "password_ad", "sms", "wechat", "pin"}
	p := &Policy{GrantTypes: all, Config: cfg}
	for _, gt := range all {
		ar := fosite.NewAccessRequest(session.New())
		ar.GrantTypes = fosite.Arguments{gt}
		ar.Client = &fosite.DefaultClient{ID: "c1", GrantTypes: fosite.Arguments{"other"}}
		if err := p.HandleTokenEndpointRequest(context.Background(), ar); !errorsIs(err, fosite.ErrUnauthorizedClient) {
			t.Errorf("%s: got %v, want unauthorized_client", gt, err)
		}
	}
	ar := fosite.NewAccessRequest(session.New())
	ar.GrantTypes = fosite.Arguments{"client_credentials"}
	ar.Client = &fosite.DefaultClient{ID: "spa", Public: true, GrantTypes: fosite.Arguments{"client_credentials"}}
	if err := p.HandleTokenEndpointRequest(context.Background(), ar); !errorsIs(err, fosite.ErrUnauthorizedClient) {
		t.Errorf("public client_credentials: got %v, want unauthorized_client", err)
	}
	// A grant type the server does not enable is not the policy's to judge.
	ar.GrantTypes = fosite.Arguments{"implicit"}
	if p.CanHandleTokenEndpointRequest(context.Background(), ar) {
		t.Error("policy claims a grant that is not enabled")
	}
}

func errorsIs(err error, want *fosite.RFC6749Error) bool {
	rfc := fosite.ErrorToRFC6749Error(err)
	return err != nil && rfc.ErrorField == want.ErrorField
}
