-- Migration 5: token_revocations, what stops JWT access tokens that are not stored
-- (tokens.store_access_tokens: false): a revoked jti, grant (token family) or subject, each kept
-- until every access token it can name has expired. Rows are keyed by a SHA-256 of kind and value.
-- Dumped from a fresh AutoMigrate of the models.

-- +goose Up
CREATE TABLE `token_revocations` (
  `id` varchar(64) NOT NULL,
  `revoked_at` datetime(3) NOT NULL,
  `expires_at` datetime(3) NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_token_revocations_expires_at` (`expires_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE `token_revocations`;
