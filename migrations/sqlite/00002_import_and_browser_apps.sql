-- Migration 2: IdentityServer4 import (extra client secrets, per-client settings, API resources,
-- imported signing keys, live IS4 refresh tokens, user claims and lockouts) and browser apps
-- (clients.allowed_cors_origins, clients.id_token_signed_response_alg).
-- Dumped from a fresh AutoMigrate of the models (SELECT sql FROM sqlite_master).

-- +goose Up
CREATE TABLE `api_resource_secrets` (`id` text,`resource` text NOT NULL,`hash` blob NOT NULL,`description` text NOT NULL,`expires_at` datetime,PRIMARY KEY (`id`));
CREATE TABLE `api_resources` (`name` text,`display_name` text NOT NULL,`scopes` text NOT NULL,`enabled` numeric NOT NULL,`updated_at` datetime NOT NULL,PRIMARY KEY (`name`));
CREATE TABLE `client_secrets` (`id` text,`client_id` text NOT NULL,`hash` blob NOT NULL,`description` text NOT NULL,`origin` text NOT NULL,`expires_at` datetime,`created_at` datetime NOT NULL,PRIMARY KEY (`id`));
CREATE TABLE `client_settings` (`client_id` text,`access_token_lifetime` integer NOT NULL,`id_token_lifetime` integer NOT NULL,`auth_code_lifetime` integer NOT NULL,`absolute_refresh_lifetime` integer NOT NULL,`sliding_refresh_lifetime` integer NOT NULL,`refresh_token_reuse` numeric NOT NULL,`refresh_token_sliding` numeric NOT NULL,`client_claims` text NOT NULL,`claims_prefix` text NOT NULL,`always_send_client_claims` numeric NOT NULL,`legacy_resource_audience` numeric NOT NULL,`updated_at` datetime NOT NULL,PRIMARY KEY (`client_id`));
ALTER TABLE `clients` ADD COLUMN `id_token_signed_response_alg` text NOT NULL DEFAULT "";
ALTER TABLE `clients` ADD COLUMN `allowed_cors_origins` text;
CREATE TABLE `imported_signing_keys` (`k_id` text,`origin` text NOT NULL,`imported_at` datetime NOT NULL,`active_since` datetime,PRIMARY KEY (`k_id`));
CREATE TABLE `legacy_refresh_tokens` (`lookup_key` text,`client_id` text NOT NULL,`subject` text NOT NULL,`session_id` text NOT NULL,`scopes` text NOT NULL,`audience` text NOT NULL,`issued_at` datetime NOT NULL,`expires_at` datetime NOT NULL,`consumed` numeric NOT NULL,`consumed_at` datetime,`imported_at` datetime NOT NULL,PRIMARY KEY (`lookup_key`));
CREATE TABLE `user_claims` (`id` text,`user_id` text NOT NULL,`type` text NOT NULL,`value` text NOT NULL,`origin` text NOT NULL,PRIMARY KEY (`id`));
CREATE TABLE `user_lockouts` (`user_id` text,`until` datetime NOT NULL,PRIMARY KEY (`user_id`));
CREATE INDEX `idx_api_resource_secrets_expires_at` ON `api_resource_secrets`(`expires_at`);
CREATE INDEX `idx_api_resource_secrets_resource` ON `api_resource_secrets`(`resource`);
CREATE INDEX `idx_client_secrets_client_id` ON `client_secrets`(`client_id`);
CREATE INDEX `idx_client_secrets_expires_at` ON `client_secrets`(`expires_at`);
CREATE INDEX `idx_legacy_refresh_tokens_client_id` ON `legacy_refresh_tokens`(`client_id`);
CREATE INDEX `idx_legacy_refresh_tokens_expires_at` ON `legacy_refresh_tokens`(`expires_at`);
CREATE INDEX `idx_user_claims_user_id` ON `user_claims`(`user_id`);

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
