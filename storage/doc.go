// Package storage is lingpai's database layer on GORM: the models and migrations, the fosite
// storage adapter (clients, authorize codes, PKCE, OIDC sessions, access and refresh tokens with
// rotation and reuse detection), and the stores that accounts, keys and throttling use.
//
// One schema runs on SQLite (embedded default) and MySQL/MariaDB/TiDB; the rules it follows are in
// DESIGN.md "Scale-out rules": random keys, compare-and-set for one-time use, no zero dates, UTC.
package storage
