// Package deploy holds the deployment assets (the LDAP seed, demo secrets) and the tests that
// keep docker-compose.yml and the Dockerfile at the repository root honest, since CI has no Docker
// engine to run them: every LINGPAI_* variable must name a real configuration key, and the
// compose environment must load as a valid configuration.
package deploy
