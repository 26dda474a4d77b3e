-- Migration 4: claim sets (scopes that release user claims: IdentityServer4's identity resources)
-- and consents.expires_at (IdentityServer4's consent expiration; NULL: never expires).

-- +goose Up
CREATE TABLE `claim_sets` (
  `scope` varchar(191) NOT NULL,
  `display_name` varchar(255) NOT NULL,
  `claims` text NOT NULL,
  `enabled` tinyint(1) NOT NULL,
  `origin` varchar(32) NOT NULL,
  `updated_at` datetime(3) NOT NULL,
  PRIMARY KEY (`scope`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
ALTER TABLE `consents` ADD COLUMN `expires_at` datetime(3) DEFAULT NULL;

-- +goose Down
ALTER TABLE `consents` DROP COLUMN `expires_at`;
DROP TABLE `claim_sets`;
