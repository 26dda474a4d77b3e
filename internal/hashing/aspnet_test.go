package hashing

import (
	"context"
	"errors"
	"testing"
)

// TestASPNetOfficialVectors uses dotnet/aspnetcore's PasswordHasherTest vectors (password
// "my password"), so lingpai accepts exactly what ASP.NET Core Identity accepts.
func TestASPNetOfficialVectors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, hash string
		want       error
	}{
		{"v2 sha1 1000", "AAABAgMEBQYHCAkKCwwNDg+ukCEMDf0yyQ29NYubggHIVY0sdEUfdyeM+E1LtH1uJg==", nil},
		{"v2 random salt", "ANXrDknc7fGPpigibZXXZFMX4aoqz44JveK6jQuwY3eH/UyPhvr5xTPeGYEckLxz9A==", nil},
		{"v3 sha256 10000", "AQAAAAEAACcQAAAAEAABAgMEBQYHCAkKCwwNDg+yWU7rLgUwPZb1Itsmra7cbxw2EFpwpVFIEtP+JIuUEw==", nil},
		{"v3 sha512 100000", "AQAAAAIAAYagAAAAEAABAgMEBQYHCAkKCwwNDg/Q8A0WMKbtHQJQ2DHCdoEeeFBrgNlldq6vH4qX/CGqGQ==", nil},
		{"v3 sha512 10000", "AQAAAAIAACcQAAAAEAABAgMEBQYHCAkKCwwNDg9B0Oxwty+PGIDSp95gcCfzeDvA4sGapUIUov8usXfD6A==", nil},
		{"v3 sha1 250 16-byte subkey", "AQAAAAAAAAD6AAAAEAhftMyfTJylOlZT+eEotFXd1elee8ih5WsjXaR3PA9M", nil},
		{"v3 sha256 250000 32-byte salt", "AQAAAAEAA9CQAAAAIESkQuj2Du8Y+kbc5lcN/W/3NiAZFEm11P27nrSN5/tId+bR1SwV8CO1Jd72r4C08OLvplNlCDc3oQZ8efcW+jQ=", nil},
		{"v3 sha512 50 16-byte subkey", "AQAAAAIAAAAyAAAAEOMwvh3+FZxqkdMBz2ekgGhwQ4B6pZWND6zgESBuWiHw", nil},
		{"v3 sha512 250 64-byte subkey", "AQAAAAIAAAD6AAAAIJbVi5wbMR+htSfFp8fTw8N8GOS/Sje+S/4YZcgBfU7EQuqv4OkVYmc4VJl9AGZzmRTxSkP7LtVi9IWyUxX8IAAfZ8v+ZfhjCcudtC1YERSqE1OEdXLW9VukPuJWBBjLuw==", nil},
		{"v2 too short", "AAABAgMEBQYHCAkKCwwNDg+ukCEMDf0yyQ29NYubggE=", ErrUnknownFormat},
		{"v3 too short", "AQAAAAIAAAAyAAAAEOMwvh3+FZxqkdMBz2ekgGhwQ4A=", ErrUnknownFormat},
		{"v3 wrong subkey", "AQAAAAAAAAD6AAAAEAhftMyfTJyAAAAAAAAAAAAAAAAAAAih5WsjXaR3PA9M", ErrMismatch},
		{"not base64", "!!!", ErrUnknownFormat},
		{"unknown version byte", "AgAAAA==", ErrUnknownFormat},
	}
	h := Hasher{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := h.Compare(ctx, ASPNetHash(tt.hash), []byte("my password"))
			if tt.want == nil && err != nil {
				t.Fatalf("Compare = %v, want match", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Compare = %v, want %v", err, tt.want)
			}
			if tt.want == nil {
				if err := h.Compare(ctx, ASPNetHash(tt.hash), []byte("my passwore")); !errors.Is(err, ErrMismatch) {
					t.Fatalf("wrong password: Compare = %v, want ErrMismatch", err)
				}
			}
			if !NeedsRehash(ASPNetHash(tt.hash)) {
				t.Fatal("an imported hash must be rehashed after sign-in")
			}
		})
	}
}

// TestIS4SharedSecret uses IS4's own documented values of "secret".Sha256() and .Sha512().
func TestIS4SharedSecret(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, value, prefix string
	}{
		{"sha256", "K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=", IS4SHA256Prefix},
		{"sha512", "vSsar3708Jvp9Szi2NWZZ02Bqp1qRCFpbcTZPdBhnWgs5WtNZKnvCXdhztmeD2cmW192CF5bDufKRpayrW/isg==", IS4SHA512Prefix},
	}
	h := Hasher{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stored, err := IS4SecretHash(tt.value)
			if err != nil {
				t.Fatal(err)
			}
			if string(stored) != tt.prefix+tt.value {
				t.Fatalf("stored %q, want prefix %q", stored, tt.prefix)
			}
			if err := h.Compare(ctx, stored, []byte("secret")); err != nil {
				t.Fatalf("right secret: %v", err)
			}
			if err := h.Compare(ctx, stored, []byte("Secret")); !errors.Is(err, ErrMismatch) {
				t.Fatalf("wrong secret: %v", err)
			}
			if NeedsRehash(stored) {
				t.Fatal("client secrets are not rehashed")
			}
		})
	}
	for _, bad := range []string{"secret", "c2VjcmV0", ""} {
		if _, err := IS4SecretHash(bad); !errors.Is(err, ErrUnknownFormat) {
			t.Errorf("IS4SecretHash(%q) = %v, want ErrUnknownFormat", bad, err)
		}
	}
}
