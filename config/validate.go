package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Validate reports every bad key at once, each error naming the key, so one start-up shows the
// whole list instead of one mistake per restart.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.Server.Addr); err != nil {
		bad("server.addr", "must be host:port, got %q", c.Server.Addr)
	}
	if u, err := url.Parse(c.Server.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		bad("server.issuer", "must be an http(s) URL without query or fragment, got %q", c.Server.Issuer)
	}
	if c.Server.MaxBodyBytes < 1024 {
		bad("server.max_body_bytes", "must be at least 1024, got %d", c.Server.MaxBodyBytes)
	}
	if c.Server.CacheTTL < 0 || c.Server.CacheTTL > time.Minute {
		bad("server.cache_ttl", "must be between 0s and 60s, got %s", c.Server.CacheTTL)
	}
	if c.Server.ShutdownTimeout <= 0 {
		bad("server.shutdown_timeout", "must be positive")
	}
	for _, p := range c.Server.TrustedProxies {
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				bad("server.trusted_proxies", "%q is neither an IP nor a CIDR", p)
			}
		}
	}
	switch c.Database.Driver {
	case "sqlite", "mysql", "postgres":
	default:
		bad("database.driver", "must be sqlite, mysql or postgres, got %q", c.Database.Driver)
	}
	if c.Database.DSN == "" && len(c.Database.DSNs) == 0 {
		bad("database.dsn", "required (or database.dsns)")
	}
	if len(c.Database.DSNs) > 0 && c.Database.Driver == "sqlite" {
		bad("database.dsns", "is for mysql or postgres servers; sqlite takes one file in database.dsn")
	}
	for i, d := range c.Database.DSNs {
		if strings.TrimSpace(d) == "" {
			bad("database.dsns", "entry %d is empty", i+1)
		}
	}
	if c.Server.MaxInFlight < 1 {
		bad("server.max_in_flight", "must be at least 1")
	}
	if c.Server.QueueTimeout < 0 {
		bad("server.queue_timeout", "must not be negative")
	}
	if c.Database.MaxOpenConns < 1 {
		bad("database.max_open_conns", "must be at least 1")
	}
	positive := map[string]time.Duration{
		"tokens.access_token_lifetime":       c.Tokens.AccessTokenLifetime,
		"tokens.refresh_token_lifetime":      c.Tokens.RefreshTokenLifetime,
		"tokens.authorization_code_lifetime": c.Tokens.AuthCodeLifetime,
		"tokens.id_token_lifetime":           c.Tokens.IDTokenLifetime,
		"throttle.window":                    c.Throttle.Window,
		"throttle.lockout":                   c.Throttle.Lockout,
		"database.query_timeout":             c.Database.QueryTimeout,
	}
	for key, d := range positive {
		if d <= 0 {
			bad(key, "must be a positive duration (90s, 5m, 1h)")
		}
	}
	if c.Tokens.Format != "jwt" && c.Tokens.Format != "opaque" {
		bad("tokens.format", "must be jwt or opaque, got %q", c.Tokens.Format)
	}
	if !c.Tokens.StoreAccessTokens && c.Tokens.Format != "jwt" {
		bad("tokens.store_access_tokens", "false needs tokens.format jwt (an opaque token is nothing but its row)")
	}
	if c.Tokens.SigningAlgorithm != "RS256" && c.Tokens.SigningAlgorithm != "ES256" {
		bad("tokens.signing_algorithm", "must be RS256 or ES256, got %q", c.Tokens.SigningAlgorithm)
	}
	for i, s := range c.Security.Secrets {
		if len(s) < 32 {
			bad(fmt.Sprintf("security.secrets[%d]", i), "must be at least 32 characters")
		}
	}
	if c.Tokens.Secret != "" && len(c.Tokens.Secret) < 32 {
		bad("tokens.secret", "must be at least 32 characters (or left empty to generate one)")
	}
	if c.Throttle.MaxFailures < 1 {
		bad("throttle.max_failures", "must be at least 1")
	}
	if c.Throttle.IPMaxFailures < 1 {
		bad("throttle.ip_max_failures", "must be at least 1")
	}
	if len(c.Grants.Enabled) == 0 {
		bad("grants.enabled", "lists no grant type")
	}
	seen := map[string]bool{}
	for _, g := range c.Grants.Enabled {
		if seen[g] {
			bad("grants.enabled", "lists %q twice", g)
		}
		seen[g] = true
		if strings.TrimSpace(g) == "" {
			bad("grants.enabled", "lists an empty grant type")
		}
		// Whether g is known is checked by server.New, which also knows grants registered in code.
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		bad("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		bad("log.format", "must be json or text, got %q", c.Log.Format)
	}
	errs = append(errs, c.validateOps()...)
	errs = append(errs, c.validateSecurity()...)
	c.validateUI(bad)
	errs = append(errs, c.validateSections()...)
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("config: %d problem(s):\n  %w", len(errs), joinLines(errs))
}

func joinLines(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	slices.Sort(msgs)
	return errors.New(strings.Join(msgs, "\n  "))
}
