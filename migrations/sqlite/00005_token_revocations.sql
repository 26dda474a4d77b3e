-- Migration 5: token_revocations, what stops JWT access tokens that are not stored
-- (tokens.store_access_tokens: false): a revoked jti, grant (token family) or subject, each kept
-- until every access token it can name has expired. Rows are keyed by a SHA-256 of kind and value.
-- Dumped from a fresh AutoMigrate of the models.

-- +goose Up
CREATE TABLE `token_revocations` (`id` text,`revoked_at` datetime NOT NULL,`expires_at` datetime NOT NULL,PRIMARY KEY (`id`));
CREATE INDEX `idx_token_revocations_expires_at` ON `token_revocations`(`expires_at`);

-- +goose Down
DROP INDEX `idx_token_revocations_expires_at`;
DROP TABLE `token_revocations`;
