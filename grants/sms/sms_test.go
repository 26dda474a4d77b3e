package sms

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/grants"
	"github.com/lingpai/lingpai/internal/phone"
	"github.com/lingpai/lingpai/storage"
)

// codes accepts one code per phone, once.
type codes struct {
	valid map[string]string
	err   error
}

func (c *codes) Redeem(_ context.Context, phone, code string) (bool, error) {
	if c.err != nil {
		return false, c.err
	}
	if c.valid[phone] != code || code == "" {
		return false, nil
	}
	delete(c.valid, phone)
	return true, nil
}

type users struct {
	byPhone map[string]*storage.User
	created int
}

func (u *users) ByPhone(_ context.Context, p string, create bool) (*storage.User, error) {
	if user, ok := u.byPhone[p]; ok {
		if user.Disabled {
			return nil, accounts.ErrDisabled
		}
		return user, nil
	}
	if !create {
		return nil, accounts.ErrNoAccount
	}
	u.created++
	return &storage.User{ID: "new-user", Phone: &p, PhoneVerified: true}, nil
}

func (u *users) Active(context.Context, string) (bool, error) { return true, nil }

func (u *users) Claims(context.Context, string) (map[string]any, error) { return map[string]any{}, nil }

func TestAuthenticate(t *testing.T) {
	lily, dis := "+8613800138000", "+8613900139000"
	newGrant := func(auto bool) (*Grant, *users) {
		us := &users{byPhone: map[string]*storage.User{
			lily: {ID: "u-lily", Phone: &lily, PhoneVerified: true},
			dis:  {ID: "u-dis", Phone: &dis, PhoneVerified: true, Disabled: true},
		}}
		return &Grant{
			Codes: &codes{valid: map[string]string{lily: "123456", dis: "654321", "+8613700137000": "111111"}}, Accounts: us,
			Normalize: func(raw string) (string, error) { return phone.Normalize(raw, "CN") }, AutoRegister: auto,
		}, us
	}
	tests := []struct {
		name    string
		form    url.Values
		auto    bool
		want    error
		subject string
	}{
		{"right code, national format", url.Values{"phone": {"138 0013 8000"}, "sms": {"123456"}}, false, nil, "u-lily"},
		{"right code, E.164", url.Values{"phone": {lily}, "sms": {"123456"}}, false, nil, "u-lily"},
		{"wrong code", url.Values{"phone": {lily}, "sms": {"000000"}}, false, grants.ErrInvalidCredentials, ""},
		{"missing code", url.Values{"phone": {lily}}, false, grants.ErrInvalidRequest, ""},
		{"missing phone", url.Values{"sms": {"123456"}}, false, grants.ErrInvalidRequest, ""},
		{"not a phone number", url.Values{"phone": {"12"}, "sms": {"123456"}}, false, grants.ErrInvalidRequest, ""},
		{"disabled account", url.Values{"phone": {dis}, "sms": {"654321"}}, false, grants.ErrInvalidCredentials, ""},
		{"no account", url.Values{"phone": {"+8613700137000"}, "sms": {"111111"}}, false, grants.ErrInvalidCredentials, ""},
		{"no account, auto_register", url.Values{"phone": {"+8613700137000"}, "sms": {"111111"}}, true, nil, "new-user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _ := newGrant(tt.auto)
			id, err := g.Authenticate(context.Background(), grants.Request{Form: tt.form})
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if id.Subject != tt.subject {
				t.Fatalf("subject %q, want %q", id.Subject, tt.subject)
			}
			if tt.want == nil && (len(id.AMR) != 1 || id.AMR[0] != "sms") {
				t.Fatalf("amr %v", id.AMR)
			}
		})
	}
}

// A code is good once; the second use is the same invalid_grant as a wrong code.
func TestCodeOnce(t *testing.T) {
	p := "+8613800138000"
	g := &Grant{Codes: &codes{valid: map[string]string{p: "123456"}},
		Accounts:  &users{byPhone: map[string]*storage.User{p: {ID: "u1"}}},
		Normalize: func(raw string) (string, error) { return raw, nil }}
	form := url.Values{"phone": {p}, "sms": {"123456"}}
	if _, err := g.Authenticate(context.Background(), grants.Request{Form: form}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Authenticate(context.Background(), grants.Request{Form: form}); !errors.Is(err, grants.ErrInvalidCredentials) {
		t.Fatalf("second use: %v", err)
	}
}

// A store failure while redeeming is not a wrong code: it must not count as a failed sign-in.
func TestRedeemFailureIsNotBadCredentials(t *testing.T) {
	g := &Grant{Codes: &codes{err: errors.New("database is down")}, Accounts: &users{},
		Normalize: func(raw string) (string, error) { return raw, nil }}
	_, err := g.Authenticate(context.Background(), grants.Request{Form: url.Values{"phone": {"+8613800138000"}, "sms": {"1"}}})
	if err == nil || errors.Is(err, grants.ErrInvalidCredentials) || errors.Is(err, grants.ErrInvalidRequest) {
		t.Fatalf("got %v", err)
	}
}

func TestSecretParamsKeepTheCodeOutOfStorage(t *testing.T) {
	got := (&Grant{}).SecretParams()
	if len(got) != 2 || got[0] != "sms" || got[1] != "code" {
		t.Fatalf("%v", got)
	}
}
