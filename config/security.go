package config

import (
	"fmt"
	"time"
)

// Security bounds the work an unauthenticated caller can make the server do.
type Security struct {
	// Secrets are the system secrets that encrypt key material at rest (signing keys, the HMAC,
	// CSRF and SMS-code secrets) with AES-GCM. The first encrypts; every one decrypts, so a new
	// secret is put first and the old one kept until `lingpai keys reencrypt` has run.
	Secrets []string `yaml:"secrets"`
	// SecretsFile reads the secrets from a file, one per line (Docker/Kubernetes secrets); they
	// come before any in Secrets.
	SecretsFile string `yaml:"secrets_file"`
	// MaxConcurrentHashes bounds the slow hashes (argon2id, bcrypt, PBKDF2) running at once in
	// the process; 0 means one per CPU lingpai may use (GOMAXPROCS). Each argon2id check holds
	// 19 MiB while it runs, so the bound is also a memory bound: 19 MiB × this value.
	MaxConcurrentHashes int `yaml:"max_concurrent_hashes"`
	// HashQueueWait is how long a credential check waits for a free hashing slot before the
	// request is answered 503 temporarily_unavailable with Retry-After.
	HashQueueWait time.Duration `yaml:"hash_queue_wait"`
}

func defaultSecurity() Security { return Security{HashQueueWait: 2 * time.Second} }

func (c *Config) validateSecurity() []error {
	var errs []error
	if n := c.Security.MaxConcurrentHashes; n < 0 || n > 1024 {
		errs = append(errs, fmt.Errorf("security.max_concurrent_hashes: must be between 0 (one per CPU) and 1024, got %d", n))
	}
	if w := c.Security.HashQueueWait; w <= 0 || w > time.Minute {
		errs = append(errs, fmt.Errorf("security.hash_queue_wait: must be between 1ms and 1m, got %s", w))
	}
	return errs
}
