-- Migration 2: IdentityServer4 import (extra client secrets, per-client settings, API resources,
-- imported signing keys, live IS4 refresh tokens, user claims and lockouts) and browser apps
-- (clients.allowed_cors_origins, clients.id_token_signed_response_alg).
-- Dumped from a fresh AutoMigrate of the models (SHOW CREATE TABLE).

-- +goose Up
CREATE TABLE `api_resource_secrets` (
  `id` varchar(64) NOT NULL,
  `resource` varchar(191) NOT NULL,
  `hash` blob NOT NULL,
  `description` varchar(2000) NOT NULL,
  `expires_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_api_resource_secrets_resource` (`resource`),
  KEY `idx_api_resource_secrets_expires_at` (`expires_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `api_resources` (
  `name` varchar(191) NOT NULL,
  `display_name` varchar(255) NOT NULL,
  `scopes` text NOT NULL,
  `enabled` tinyint(1) NOT NULL,
  `updated_at` datetime(3) NOT NULL,
  PRIMARY KEY (`name`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `client_secrets` (
  `id` varchar(64) NOT NULL,
  `client_id` varchar(191) NOT NULL,
  `hash` blob NOT NULL,
  `description` varchar(2000) NOT NULL,
  `origin` varchar(32) NOT NULL,
  `expires_at` datetime(3) DEFAULT NULL,
  `created_at` datetime(3) NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_client_secrets_client_id` (`client_id`),
  KEY `idx_client_secrets_expires_at` (`expires_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `client_settings` (
  `client_id` varchar(191) NOT NULL,
  `access_token_lifetime` bigint(20) NOT NULL,
  `id_token_lifetime` bigint(20) NOT NULL,
  `auth_code_lifetime` bigint(20) NOT NULL,
  `absolute_refresh_lifetime` bigint(20) NOT NULL,
  `sliding_refresh_lifetime` bigint(20) NOT NULL,
  `refresh_token_reuse` tinyint(1) NOT NULL,
  `refresh_token_sliding` tinyint(1) NOT NULL,
  `client_claims` text NOT NULL,
  `claims_prefix` varchar(64) NOT NULL,
  `always_send_client_claims` tinyint(1) NOT NULL,
  `legacy_resource_audience` tinyint(1) NOT NULL,
  `updated_at` datetime(3) NOT NULL,
  PRIMARY KEY (`client_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
ALTER TABLE `clients` ADD COLUMN `id_token_signed_response_alg` varchar(16) NOT NULL DEFAULT '';
ALTER TABLE `clients` ADD COLUMN `allowed_cors_origins` text DEFAULT NULL;
CREATE TABLE `imported_signing_keys` (
  `k_id` varchar(64) NOT NULL,
  `origin` varchar(32) NOT NULL,
  `imported_at` datetime(3) NOT NULL,
  `active_since` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`k_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `legacy_refresh_tokens` (
  `lookup_key` varchar(64) NOT NULL,
  `client_id` varchar(191) NOT NULL,
  `subject` varchar(191) NOT NULL,
  `session_id` varchar(100) NOT NULL,
  `scopes` text NOT NULL,
  `audience` text NOT NULL,
  `issued_at` datetime(3) NOT NULL,
  `expires_at` datetime(3) NOT NULL,
  `consumed` tinyint(1) NOT NULL,
  `consumed_at` datetime(3) DEFAULT NULL,
  `imported_at` datetime(3) NOT NULL,
  PRIMARY KEY (`lookup_key`),
  KEY `idx_legacy_refresh_tokens_client_id` (`client_id`),
  KEY `idx_legacy_refresh_tokens_expires_at` (`expires_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `user_claims` (
  `id` varchar(64) NOT NULL,
  `user_id` varchar(64) NOT NULL,
  `type` varchar(255) NOT NULL,
  `value` text NOT NULL,
  `origin` varchar(32) NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_user_claims_user_id` (`user_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `user_lockouts` (
  `user_id` varchar(64) NOT NULL,
  `until` datetime(3) NOT NULL,
  PRIMARY KEY (`user_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
ALTER TABLE `clients` DROP COLUMN `allowed_cors_origins`;
ALTER TABLE `clients` DROP COLUMN `id_token_signed_response_alg`;
DROP TABLE `user_lockouts`;
DROP TABLE `user_claims`;
DROP TABLE `legacy_refresh_tokens`;
DROP TABLE `imported_signing_keys`;
DROP TABLE `client_settings`;
DROP TABLE `client_secrets`;
DROP TABLE `api_resources`;
DROP TABLE `api_resource_secrets`;
