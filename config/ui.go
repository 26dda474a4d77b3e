package config

import (
	"net/url"
	"time"
)

// UI brands the sign-in pages and sets the browser session.
type UI struct {
	// ProductName is shown as the page title and heading.
	ProductName string `yaml:"product_name"`
	// LogoURL is an image shown above the form (https URL or a path); empty shows the name only.
	LogoURL string `yaml:"logo_url"`
	// SessionLifetime is how long a browser stays signed in (max_age and prompt=login can ask sooner).
	SessionLifetime time.Duration `yaml:"session_lifetime"`
}

func defaultUI() UI {
	return UI{ProductName: "lingpai 令牌", SessionLifetime: 12 * time.Hour}
}

func (c *Config) validateUI(bad func(key, format string, args ...any)) {
	if c.UI.ProductName == "" {
		bad("ui.product_name", "must not be empty")
	}
	if c.UI.LogoURL != "" {
		if u, err := url.Parse(c.UI.LogoURL); err != nil || (u.Scheme != "" && u.Scheme != "https" && u.Scheme != "http") {
			bad("ui.logo_url", "must be an http(s) URL or a path, got %q", c.UI.LogoURL)
		}
	}
	if c.UI.SessionLifetime <= 0 {
		bad("ui.session_lifetime", "must be a positive duration")
	}
}
