package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad: any config.yaml either loads into a configuration that passes Validate, or fails
// with an error that names where it went wrong (a key or the file), never a panic.
func FuzzLoad(f *testing.F) {
	if def, err := os.ReadFile("../config.yaml"); err == nil {
		f.Add(string(def))
	}
	f.Add("database:\n  driver: mysql\n  dsn: root@tcp(db:3306)/lingpai\n  query_timeout: 2s\n")
	f.Add("grants:\n  enabled: [password_ad]\nldap:\n  url: ldap://x\n  timeout: -1s\n")
	f.Add("grants:\n  enabled: [sms]\nsms:\n  provider: webhook\n  webhook: {url: 'http://x', secret: s}\n")
	f.Add("tokens: {access_token_lifetime: 99999999999h}\n")
	f.Add("server: [1, 2]\n")
	f.Add("a: &a [*a]\n")
	f.Fuzz(func(t *testing.T, yaml string) {
		path := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path, true, nil)
		if err != nil {
			if cfg != nil {
				t.Fatalf("error %v with a configuration", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "config") && !strings.Contains(msg, ".") {
				t.Fatalf("error names no key or file: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Load accepted a configuration Validate refuses: %v", err)
		}
	})
}
