-- Migration 3: security hardening. clients.can_introspect (resource servers that may introspect
-- any client's access tokens) and an index on the subject of every token table (disabling a user
-- revokes their tokens by subject).
-- Dumped from a fresh AutoMigrate of the models.

-- +goose Up
ALTER TABLE `access_tokens` ADD KEY `idx_access_tokens_subject` (`subject`);
ALTER TABLE `authorize_codes` ADD KEY `idx_authorize_codes_subject` (`subject`);
ALTER TABLE `clients` ADD COLUMN `can_introspect` tinyint(1) NOT NULL DEFAULT 0;
ALTER TABLE `oidc_sessions` ADD KEY `idx_oidc_sessions_subject` (`subject`);
ALTER TABLE `pkce_requests` ADD KEY `idx_pkce_requests_subject` (`subject`);
ALTER TABLE `refresh_tokens` ADD KEY `idx_refresh_tokens_subject` (`subject`);

-- +goose Down
ALTER TABLE `refresh_tokens` DROP KEY `idx_refresh_tokens_subject`;
ALTER TABLE `pkce_requests` DROP KEY `idx_pkce_requests_subject`;
ALTER TABLE `oidc_sessions` DROP KEY `idx_oidc_sessions_subject`;
ALTER TABLE `clients` DROP COLUMN `can_introspect`;
ALTER TABLE `authorize_codes` DROP KEY `idx_authorize_codes_subject`;
ALTER TABLE `access_tokens` DROP KEY `idx_access_tokens_subject`;
