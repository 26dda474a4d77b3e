-- Migration 1: the schema GORM AutoMigrate created up to and including the last release before
-- goose, dumped from a fresh AutoMigrate of its models
-- (MariaDB: SHOW CREATE TABLE).
-- A database that release created has exactly these tables: lingpai recognises it and records
-- this version as applied without running it (migrations.Migrator.baseline).

-- +goose Up
CREATE TABLE `access_tokens` (
  `signature` varchar(64) NOT NULL,
  `request_id` varchar(64) NOT NULL,
  `requested_at` datetime(3) NOT NULL,
  `client_id` varchar(191) NOT NULL,
  `subject` varchar(191) NOT NULL,
  `scopes` text NOT NULL,
  `granted_scopes` text NOT NULL,
  `audience` text NOT NULL,
  `granted_audience` text NOT NULL,
  `form` text NOT NULL,
  `session` mediumblob NOT NULL,
  `active` tinyint(1) NOT NULL,
  `access_signature` varchar(64) NOT NULL,
  `expires_at` datetime(3) NOT NULL,
  `created_at` datetime(3) NOT NULL,
  PRIMARY KEY (`signature`),
  KEY `idx_access_tokens_request_id` (`request_id`),
  KEY `idx_access_tokens_client_id` (`client_id`),
  KEY `idx_access_tokens_expires_at` (`expires_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE `authorize_codes` (
  `signature` varchar(64) NOT NULL,
  `request_id` varchar(64) NOT NULL,
  `requested_at` datetime(3) NOT NULL,
  `client_id` varchar(191) NOT NULL,
  `subject` varchar(191) NOT NULL,
  `scopes` text NOT NULL,
  `granted_scopes` text NOT NULL,
  `audience` text NOT NULL,
  `granted_audience` text NOT NULL,
  `form` text NOT NULL,
  `session` mediumblob NOT NULL,
  `active` tinyint(1) NOT NULL,
  `access_signature` varchar(64) NOT NULL,
  `expires_at` datetime(3) NOT NULL,
  `created_at` datetime(3) NOT NULL,
  PRIMARY KEY (`signature`),
  KEY `idx_authorize_codes_request_id` (`request_id`),
  KEY `idx_authorize_codes_client_id` (`client_id`),
  KEY `idx_authorize_codes_expires_at` (`expires_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE `client_assertion_jtis` (
  `jti` varchar(64) NOT NULL,
  `expires_at` datetime(3) NOT NULL,
  PRIMARY KEY (`jti`),
  KEY `idx_client_assertion_jtis_expires_at` (`expires_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE `clients` (
  `id` varchar(191) NOT NULL,
  `name` varchar(255) NOT NULL,
  `secret_hash` blob DEFAULT NULL,
  `public` tinyint(1) NOT NULL,
  `redirect_uris` text NOT NULL,
  `post_logout_redirect_uris` text NOT NULL,
  `grant_types` text NOT NULL,
  `response_types` text NOT NULL,
  `scopes` text NOT NULL,
  `audience` text NOT NULL,
  `require_pkce` tinyint(1) NOT NULL,
  `skip_consent` tinyint(1) NOT NULL,
  `trust_wechat_openid` tinyint(1) NOT NULL,
  `created_at` datetime(3) NOT NULL,
  `updated_at` datetime(3) NOT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE `consents` (
  `user_id` varchar(64) NOT NULL,
  `client_id` varchar(191) NOT NULL,
  `scopes` text NOT NULL,
  `updated_at` datetime(3) NOT NULL,
  PRIMARY KEY (`user_id`,`client_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE `identities` (
  `id` varchar(64) NOT NULL,
  `user_id` varchar(64) NOT NULL,
  `provider` varchar(64) NOT NULL,
  `subject` varchar(191) NOT NULL,
  `claims` blob DEFAULT NULL,
  `created_at` datetime(3) NOT NULL,
  `updated_at` datetime(3) NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_identity_provider_subject` (`provider`,`subject`),
  KEY `idx_identities_user_id` (`user_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE `leases` (
  `name` varchar(64) NOT NULL,
  `holder` varchar(191) NOT NULL,
  `expires_at` datetime(3) NOT NULL,
  PRIMARY KEY (`name`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE `login_sessions` (
  `id` varchar(64) NOT NULL,
  `sid` varchar(64) NOT NULL,
  `user_id` varchar(64) NOT NULL,
  `auth_time` datetime(3) NOT NULL,
  `amr` varchar(64) NOT NULL,
  `expires_at` datetime(3) NOT NULL,
  `created_at` datetime(3) NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_login_sessions_s_id` (`sid`),
  KEY `idx_login_sessions_user_id` (`user_id`),
  KEY `idx_login_sessions_expires_at` (`expires_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE `oidc_sessions` (
  `signature` varchar(64) NOT NULL,
  `request_id` varchar(64) NOT NULL,
  `requested_at` datetime(3) NOT NULL,
  `client_id` varchar(191) NOT NULL,
  `subject` varchar(191) NOT NULL,
  `scopes` text NOT NULL,
  `granted_scopes` text NOT NULL,
  `audience` text NOT NULL,
  `granted_audience` text NOT NULL,
  `form` text NOT NULL,
  `session` mediumblob NOT NULL,
  `active` tinyint(1) NOT NULL,
  `access_signature` varchar(64) NOT NULL,
  `expires_at` datetime(3) NOT NULL,
  `created_at` datetime(3) NOT NULL,
  PRIMARY KEY (`signature`),
  KEY `idx_oidc_sessions_request_id` (`request_id`),
  KEY `idx_oidc_sessions_client_id` (`client_id`),
  KEY `idx_oidc_sessions_expires_at` (`expires_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE `pkce_requests` (
  `signature` varchar(64) NOT NULL,
  `request_id` varchar(64) NOT NULL,
  `requested_at` datetime(3) NOT NULL,
  `client_id` varchar(191) NOT NULL,
  `subject` varchar(191) NOT NULL,
  `scopes` text NOT NULL,
  `granted_scopes` text NOT NULL,
  `audience` text NOT NULL,
  `granted_audience` text NOT NULL,
  `form` text NOT NULL,
  `session` mediumblob NOT NULL,
  `active` tinyint(1) NOT NULL,
  `access_signature` varchar(64) NOT NULL,
  `expires_at` datetime(3) NOT NULL,
  `created_at` datetime(3) NOT NULL,
  PRIMARY KEY (`signature`),
  KEY `idx_pkce_requests_request_id` (`request_id`),
  KEY `idx_pkce_requests_client_id` (`client_id`),
  KEY `idx_pkce_requests_expires_at` (`expires_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE `refresh_tokens` (
  `signature` varchar(64) NOT NULL,
  `request_id` varchar(64) NOT NULL,
  `requested_at` datetime(3) NOT NULL,
  `client_id` varchar(191) NOT NULL,
  `subject` varchar(191) NOT NULL,
  `scopes` text NOT NULL,
  `granted_scopes` text NOT NULL,
  `audience` text NOT NULL,
  `granted_audience` text NOT NULL,
  `form` text NOT NULL,
  `session` mediumblob NOT NULL,
  `active` tinyint(1) NOT NULL,
  `access_signature` varchar(64) NOT NULL,
  `expires_at` datetime(3) NOT NULL,
  `created_at` datetime(3) NOT NULL,
  PRIMARY KEY (`signature`),
  KEY `idx_refresh_tokens_request_id` (`request_id`),
  KEY `idx_refresh_tokens_client_id` (`client_id`),
  KEY `idx_refresh_tokens_expires_at` (`expires_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE `signing_keys` (
  `k_id` varchar(64) NOT NULL,
  `algorithm` varchar(16) NOT NULL,
  `private_jwk` blob NOT NULL,
  `created_at` datetime(3) NOT NULL,
  `retired_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`k_id`),
  KEY `idx_signing_keys_created_at` (`created_at`),
  KEY `idx_signing_keys_retired_at` (`retired_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE `sms_codes` (
  `phone` varchar(32) NOT NULL,
  `code_hash` varbinary(64) NOT NULL,
  `attempts` bigint(20) NOT NULL,
  `used` tinyint(1) NOT NULL,
  `sent_at` datetime(3) NOT NULL,
  `expires_at` datetime(3) NOT NULL,
  PRIMARY KEY (`phone`),
  KEY `idx_sms_codes_expires_at` (`expires_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE `system_secrets` (
  `name` varchar(64) NOT NULL,
  `value` blob NOT NULL,
  `created_at` datetime(3) NOT NULL,
  PRIMARY KEY (`name`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE `throttle_counters` (
  `subject_key` varchar(191) NOT NULL,
  `bucket` bigint(20) NOT NULL,
  `count` bigint(20) NOT NULL,
  `expires_at` datetime(3) NOT NULL,
  PRIMARY KEY (`subject_key`,`bucket`),
  KEY `idx_throttle_counters_expires_at` (`expires_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE `throttle_locks` (
  `subject_key` varchar(191) NOT NULL,
  `locked_until` datetime(3) NOT NULL,
  PRIMARY KEY (`subject_key`),
  KEY `idx_throttle_locks_locked_until` (`locked_until`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE `users` (
  `id` varchar(64) NOT NULL,
  `username` varchar(191) DEFAULT NULL,
  `password_hash` blob DEFAULT NULL,
  `name` varchar(255) NOT NULL,
  `email` varchar(255) NOT NULL,
  `email_verified` tinyint(1) NOT NULL,
  `phone` varchar(32) DEFAULT NULL,
  `phone_verified` tinyint(1) NOT NULL,
  `disabled` tinyint(1) NOT NULL,
  `created_at` datetime(3) NOT NULL,
  `updated_at` datetime(3) NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_users_username` (`username`),
  UNIQUE KEY `idx_users_phone` (`phone`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

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
