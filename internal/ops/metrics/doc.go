// Package metrics is lingpai's Prometheus instrumentation: HTTP requests by route template and
// status, latency, tokens issued and failed, database pool statistics, janitor work, and upstream
// (LDAP, WeChat, SMS) latency and errors. Everything is registered on a Registry owned by one
// Metrics value, never on the global default registry, so two servers in one process (tests,
// embedding) do not collide. Every label value comes from code or from configuration, never raw
// from a request, so the number of series stays bounded whatever clients send.
package metrics
