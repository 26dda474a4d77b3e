// Package janitor deletes expired rows (tokens, codes, PKCE and OIDC sessions, throttle counters
// and locks, client assertion ids) in small batches, so a sweep never holds long locks or builds a
// huge undo log on a busy MySQL. Every read already checks expiry; the janitor only reclaims space.
// Replicas share one lease row, so only one of them sweeps at a time; "lingpai gc" sweeps on demand.
package janitor
