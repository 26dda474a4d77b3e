// Package config holds lingpai's configuration: one typed struct loaded from config.yaml, overridden
// by LINGPAI_* environment variables, and validated once at start-up so that every bad key is named
// before the server accepts a request.
package config
