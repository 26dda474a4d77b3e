// Package ldapdir checks usernames and passwords against Active Directory or another LDAP
// directory: search as a service account, then bind as the user. It tells "wrong credentials"
// apart from "directory unavailable", and reads AD's sub-codes (52e, 533, 775, ...) for the log.
package ldapdir

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// Attributes maps claims to directory attributes.
type Attributes struct {
	Username string `yaml:"username"`
	Name     string `yaml:"name"`
	Email    string `yaml:"email"`
	Phone    string `yaml:"phone"`
}

// Config is the ldap section.
type Config struct {
	URL                string        `yaml:"url"`
	StartTLS           bool          `yaml:"start_tls"`
	CAFile             string        `yaml:"ca_file"`
	InsecureSkipVerify bool          `yaml:"insecure_skip_verify"`
	BindDN             string        `yaml:"bind_dn"`
	BindPassword       string        `yaml:"bind_password"`
	BindPasswordFile   string        `yaml:"bind_password_file"`
	BaseDN             string        `yaml:"base_dn"`
	UserFilter         string        `yaml:"user_filter"`
	Domain             string        `yaml:"domain"`
	UPNSuffix          string        `yaml:"upn_suffix"`
	IDAttribute        string        `yaml:"id_attribute"`
	Attributes         Attributes    `yaml:"attributes"`
	RequiredGroups     []string      `yaml:"required_groups"`
	GroupClaims        bool          `yaml:"group_claims"`
	PoolSize           int           `yaml:"pool_size"`
	Timeout            time.Duration `yaml:"timeout"`
	RecheckOnRefresh   *bool         `yaml:"recheck_on_refresh"`
}

// DefaultUserFilter finds a person by sAMAccountName or userPrincipalName. {username} and {upn}
// are replaced by the escaped input.
const DefaultUserFilter = "(&(objectCategory=person)(objectClass=user)(|(sAMAccountName={username})(userPrincipalName={upn})))"

// SetDefaults fills what the section leaves out.
func (c *Config) SetDefaults() {
	if c.UserFilter == "" {
		c.UserFilter = DefaultUserFilter
	}
	if c.IDAttribute == "" {
		c.IDAttribute = "objectGUID"
	}
	if c.Attributes.Username == "" {
		c.Attributes.Username = "sAMAccountName"
	}
	if c.Attributes.Name == "" {
		c.Attributes.Name = "displayName"
	}
	if c.Attributes.Email == "" {
		c.Attributes.Email = "mail"
	}
	if c.Attributes.Phone == "" {
		c.Attributes.Phone = "telephoneNumber"
	}
	if c.PoolSize == 0 {
		c.PoolSize = 4
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.RecheckOnRefresh == nil {
		t := true
		c.RecheckOnRefresh = &t
	}
}

// Validate names every bad key under prefix (ldap).
func (c Config) Validate(prefix string) []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, key, fmt.Sprintf(format, args...)))
	}
	u, err := url.Parse(c.URL)
	switch {
	case err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "":
		bad("url", "must be ldap://host:port or ldaps://host:port, got %q", c.URL)
	case u.Scheme == "ldaps" && c.StartTLS:
		bad("start_tls", "cannot be used with an ldaps:// url (it is TLS already)")
	}
	if c.BindDN == "" {
		bad("bind_dn", "required: the service account that searches for users")
	}
	if c.BindPassword == "" && c.BindPasswordFile == "" {
		bad("bind_password", "required (or bind_password_file)")
	}
	if c.BaseDN == "" {
		bad("base_dn", "required, e.g. CN=Users,DC=corp,DC=example")
	}
	if !strings.Contains(c.UserFilter, "{username}") && !strings.Contains(c.UserFilter, "{upn}") {
		bad("user_filter", "must contain {username} or {upn}")
	}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			bad("ca_file", "%v", err)
		}
	}
	if c.PoolSize < 1 || c.PoolSize > 64 {
		bad("pool_size", "must be between 1 and 64, got %d", c.PoolSize)
	}
	if c.Timeout <= 0 {
		bad("timeout", "must be positive")
	}
	return errs
}
