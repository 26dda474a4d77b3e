// Package deploy holds the deployment assets (the LDAP seed, demo secrets) and the tests that
// keep docker-compose.yml and the Dockerfile at the repository root honest, since CI has no Docker
// engine to run them: every LINGPAI_* variable must name a real configuration key, and the
// compose environment must load as a valid configuration. kubernetes/ is a kustomize base (two
// replicas, probes, a PodDisruptionBudget, a migration Job), validated against the Kubernetes API
// types by kubernetes_test.go.
package deploy
