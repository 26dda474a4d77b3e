package config

// KnownGrants lists every grant type this build can serve.
func KnownGrants() []string {
	return append([]string(nil), StandardGrants...)
}

// validateSections checks the configuration sections that belong to optional grants.
func (c *Config) validateSections() []error { return nil }
