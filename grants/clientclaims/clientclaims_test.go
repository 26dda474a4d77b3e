package clientclaims

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/internal/session"
	"github.com/lingpai/lingpai/storage"
)

type client struct {
	*storage.Client
	set *storage.ClientSettings
}

func (c client) Settings() *storage.ClientSettings { return c.set }

func TestClientClaims(t *testing.T) {
	tests := []struct {
		name  string
		grant string
		set   *storage.ClientSettings
		want  map[string]interface{}
	}{
		{"client_credentials gets them with the prefix", "client_credentials",
			&storage.ClientSettings{ClientClaims: []string{"tenant=acme", "role=a", "role=b"}, ClaimsPrefix: "client_"},
			map[string]interface{}{"client_tenant": "acme", "client_role": []string{"a", "b"}}},
		{"a user grant only with AlwaysSendClientClaims", "password",
			&storage.ClientSettings{ClientClaims: []string{"tenant=acme"}, ClaimsPrefix: "client_"}, map[string]interface{}{}},
		{"AlwaysSendClientClaims", "password",
			&storage.ClientSettings{ClientClaims: []string{"tenant=acme"}, ClaimsPrefix: "client_", AlwaysSendClientClaims: true},
			map[string]interface{}{"client_tenant": "acme"}},
		{"no prefix never overrides sub", "client_credentials",
			&storage.ClientSettings{ClientClaims: []string{"sub=evil", "tenant=acme"}}, map[string]interface{}{"tenant": "acme"}},
		{"a client without settings", "client_credentials", nil, map[string]interface{}{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ar := fosite.NewAccessRequest(session.New())
			ar.GrantTypes = fosite.Arguments{tt.grant}
			ar.Client = client{Client: &storage.Client{ID: "svc"}, set: tt.set}
			err := Handler{}.HandleTokenEndpointRequest(context.Background(), ar)
			if !errors.Is(err, fosite.ErrUnknownRequest) {
				t.Fatalf("Handle = %v: it must never count as the grant's handler", err)
			}
			got := ar.GetSession().(*session.Session).JWTClaims.Extra
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("claims %v, want %v", got, tt.want)
			}
		})
	}
}
