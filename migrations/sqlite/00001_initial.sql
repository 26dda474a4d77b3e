-- Migration 1: the schema GORM AutoMigrate created up to and including the last release before
-- goose, dumped from a fresh AutoMigrate of its models
-- (SQLite: SELECT sql FROM sqlite_master).
-- A database that release created has exactly these tables: lingpai recognises it and records
-- this version as applied without running it (migrations.Migrator.baseline).

-- +goose Up
CREATE TABLE `access_tokens` (`signature` text,`request_id` text NOT NULL,`requested_at` datetime NOT NULL,`client_id` text NOT NULL,`subject` text NOT NULL,`scopes` text NOT NULL,`granted_scopes` text NOT NULL,`audience` text NOT NULL,`granted_audience` text NOT NULL,`form` text NOT NULL,`session` mediumblob NOT NULL,`active` numeric NOT NULL,`access_signature` text NOT NULL,`expires_at` datetime NOT NULL,`created_at` datetime NOT NULL,PRIMARY KEY (`signature`));
CREATE TABLE `refresh_tokens` (`signature` text,`request_id` text NOT NULL,`requested_at` datetime NOT NULL,`client_id` text NOT NULL,`subject` text NOT NULL,`scopes` text NOT NULL,`granted_scopes` text NOT NULL,`audience` text NOT NULL,`granted_audience` text NOT NULL,`form` text NOT NULL,`session` mediumblob NOT NULL,`active` numeric NOT NULL,`access_signature` text NOT NULL,`expires_at` datetime NOT NULL,`created_at` datetime NOT NULL,PRIMARY KEY (`signature`));
CREATE TABLE `authorize_codes` (`signature` text,`request_id` text NOT NULL,`requested_at` datetime NOT NULL,`client_id` text NOT NULL,`subject` text NOT NULL,`scopes` text NOT NULL,`granted_scopes` text NOT NULL,`audience` text NOT NULL,`granted_audience` text NOT NULL,`form` text NOT NULL,`session` mediumblob NOT NULL,`active` numeric NOT NULL,`access_signature` text NOT NULL,`expires_at` datetime NOT NULL,`created_at` datetime NOT NULL,PRIMARY KEY (`signature`));
CREATE TABLE `pkce_requests` (`signature` text,`request_id` text NOT NULL,`requested_at` datetime NOT NULL,`client_id` text NOT NULL,`subject` text NOT NULL,`scopes` text NOT NULL,`granted_scopes` text NOT NULL,`audience` text NOT NULL,`granted_audience` text NOT NULL,`form` text NOT NULL,`session` mediumblob NOT NULL,`active` numeric NOT NULL,`access_signature` text NOT NULL,`expires_at` datetime NOT NULL,`created_at` datetime NOT NULL,PRIMARY KEY (`signature`));
CREATE TABLE `oidc_sessions` (`signature` text,`request_id` text NOT NULL,`requested_at` datetime NOT NULL,`client_id` text NOT NULL,`subject` text NOT NULL,`scopes` text NOT NULL,`granted_scopes` text NOT NULL,`audience` text NOT NULL,`granted_audience` text NOT NULL,`form` text NOT NULL,`session` mediumblob NOT NULL,`active` numeric NOT NULL,`access_signature` text NOT NULL,`expires_at` datetime NOT NULL,`created_at` datetime NOT NULL,PRIMARY KEY (`signature`));
CREATE TABLE `clients` (`id` text,`name` text NOT NULL,`secret_hash` blob,`public` numeric NOT NULL,`redirect_uris` text NOT NULL,`post_logout_redirect_uris` text NOT NULL,`grant_types` text NOT NULL,`response_types` text NOT NULL,`scopes` text NOT NULL,`audience` text NOT NULL,`require_pkce` numeric NOT NULL,`skip_consent` numeric NOT NULL,`trust_wechat_openid` numeric NOT NULL,`created_at` datetime NOT NULL,`updated_at` datetime NOT NULL,PRIMARY KEY (`id`));
CREATE TABLE `users` (`id` text,`username` text,`password_hash` blob,`name` text NOT NULL,`email` text NOT NULL,`email_verified` numeric NOT NULL,`phone` text,`phone_verified` numeric NOT NULL,`disabled` numeric NOT NULL,`created_at` datetime NOT NULL,`updated_at` datetime NOT NULL,PRIMARY KEY (`id`));
CREATE TABLE `identities` (`id` text,`user_id` text NOT NULL,`provider` text NOT NULL,`subject` text NOT NULL,`claims` blob,`created_at` datetime NOT NULL,`updated_at` datetime NOT NULL,PRIMARY KEY (`id`));
CREATE TABLE `signing_keys` (`k_id` text,`algorithm` text NOT NULL,`private_jwk` blob NOT NULL,`created_at` datetime NOT NULL,`retired_at` datetime,PRIMARY KEY (`k_id`));
CREATE TABLE `system_secrets` (`name` text,`value` blob NOT NULL,`created_at` datetime NOT NULL,PRIMARY KEY (`name`));
CREATE TABLE `throttle_counters` (`subject_key` text,`bucket` integer,`count` integer NOT NULL,`expires_at` datetime NOT NULL,PRIMARY KEY (`subject_key`,`bucket`));
CREATE TABLE `throttle_locks` (`subject_key` text,`locked_until` datetime NOT NULL,PRIMARY KEY (`subject_key`));
CREATE TABLE `client_assertion_jtis` (`jti` text,`expires_at` datetime NOT NULL,PRIMARY KEY (`jti`));
CREATE TABLE `sms_codes` (`phone` text,`code_hash` varbinary(64) NOT NULL,`attempts` integer NOT NULL,`used` numeric NOT NULL,`sent_at` datetime NOT NULL,`expires_at` datetime NOT NULL,PRIMARY KEY (`phone`));
CREATE TABLE `login_sessions` (`id` text,`sid` text NOT NULL,`user_id` text NOT NULL,`auth_time` datetime NOT NULL,`amr` text NOT NULL,`expires_at` datetime NOT NULL,`created_at` datetime NOT NULL,PRIMARY KEY (`id`));
CREATE TABLE `consents` (`user_id` text,`client_id` text,`scopes` text NOT NULL,`updated_at` datetime NOT NULL,PRIMARY KEY (`user_id`,`client_id`));
CREATE TABLE `leases` (`name` text,`holder` text NOT NULL,`expires_at` datetime NOT NULL,PRIMARY KEY (`name`));
CREATE INDEX `idx_access_tokens_expires_at` ON `access_tokens`(`expires_at`);
CREATE INDEX `idx_access_tokens_client_id` ON `access_tokens`(`client_id`);
CREATE INDEX `idx_access_tokens_request_id` ON `access_tokens`(`request_id`);
CREATE INDEX `idx_refresh_tokens_expires_at` ON `refresh_tokens`(`expires_at`);
CREATE INDEX `idx_refresh_tokens_client_id` ON `refresh_tokens`(`client_id`);
CREATE INDEX `idx_refresh_tokens_request_id` ON `refresh_tokens`(`request_id`);
CREATE INDEX `idx_authorize_codes_expires_at` ON `authorize_codes`(`expires_at`);
CREATE INDEX `idx_authorize_codes_client_id` ON `authorize_codes`(`client_id`);
CREATE INDEX `idx_authorize_codes_request_id` ON `authorize_codes`(`request_id`);
CREATE INDEX `idx_pkce_requests_expires_at` ON `pkce_requests`(`expires_at`);
CREATE INDEX `idx_pkce_requests_client_id` ON `pkce_requests`(`client_id`);
CREATE INDEX `idx_pkce_requests_request_id` ON `pkce_requests`(`request_id`);
CREATE INDEX `idx_oidc_sessions_expires_at` ON `oidc_sessions`(`expires_at`);
CREATE INDEX `idx_oidc_sessions_client_id` ON `oidc_sessions`(`client_id`);
CREATE INDEX `idx_oidc_sessions_request_id` ON `oidc_sessions`(`request_id`);
CREATE UNIQUE INDEX `idx_users_phone` ON `users`(`phone`);
CREATE UNIQUE INDEX `idx_users_username` ON `users`(`username`);
CREATE UNIQUE INDEX `idx_identity_provider_subject` ON `identities`(`provider`,`subject`);
CREATE INDEX `idx_identities_user_id` ON `identities`(`user_id`);
CREATE INDEX `idx_signing_keys_retired_at` ON `signing_keys`(`retired_at`);
CREATE INDEX `idx_signing_keys_created_at` ON `signing_keys`(`created_at`);
CREATE INDEX `idx_throttle_counters_expires_at` ON `throttle_counters`(`expires_at`);
CREATE INDEX `idx_throttle_locks_locked_until` ON `throttle_locks`(`locked_until`);
CREATE INDEX `idx_client_assertion_jtis_expires_at` ON `client_assertion_jtis`(`expires_at`);
CREATE INDEX `idx_sms_codes_expires_at` ON `sms_codes`(`expires_at`);
CREATE INDEX `idx_login_sessions_expires_at` ON `login_sessions`(`expires_at`);
CREATE INDEX `idx_login_sessions_user_id` ON `login_sessions`(`user_id`);
CREATE INDEX `idx_login_sessions_s_id` ON `login_sessions`(`sid`);

-- +goose Down
DROP TABLE IF EXISTS `leases`;
DROP TABLE IF EXISTS `consents`;
DROP TABLE IF EXISTS `login_sessions`;
DROP TABLE IF EXISTS `sms_codes`;
DROP TABLE IF EXISTS `client_assertion_jtis`;
DROP TABLE IF EXISTS `throttle_locks`;
DROP TABLE IF EXISTS `throttle_counters`;
DROP TABLE IF EXISTS `system_secrets`;
DROP TABLE IF EXISTS `signing_keys`;
DROP TABLE IF EXISTS `identities`;
DROP TABLE IF EXISTS `users`;
DROP TABLE IF EXISTS `clients`;
DROP TABLE IF EXISTS `oidc_sessions`;
DROP TABLE IF EXISTS `pkce_requests`;
DROP TABLE IF EXISTS `authorize_codes`;
DROP TABLE IF EXISTS `refresh_tokens`;
DROP TABLE IF EXISTS `access_tokens`;
