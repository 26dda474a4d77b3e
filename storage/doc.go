// Package storage is lingpai's database layer on GORM: the models and migrations, the fosite
// storage adapter (clients, authorize codes, PKCE, OIDC sessions, access and refresh tokens with
// rotation and reuse detection), and the stores that accounts, keys and throttling use.
//
// One schema runs on SQLite (embedded default), MySQL/MariaDB (also as a Galera cluster)/TiDB and
// PostgreSQL; the rules it follows are in DESIGN.md "Scale-out rules" and "Schema rules": random
// keys, compare-and-set for one-time use, whole-transaction retries, no zero dates, UTC. Files:
// dialect.go (one place per driver), pools.go (one pool per DSN, failover), errors.go (what an
// error means: retry, unavailable, duplicate), retry.go (the retried transaction).
package storage
