-- Migration 4: claim sets (scopes that release user claims: IdentityServer4's identity resources)
-- and consents.expires_at (IdentityServer4's consent expiration; NULL: never expires).
-- Dumped from a fresh AutoMigrate of the models (SELECT sql FROM sqlite_master).

-- +goose Up
CREATE TABLE `claim_sets` (`scope` text,`display_name` text NOT NULL,`claims` text NOT NULL,`enabled` numeric NOT NULL,`origin` text NOT NULL,`updated_at` datetime NOT NULL,PRIMARY KEY (`scope`));
ALTER TABLE `consents` ADD COLUMN `expires_at` datetime;

-- +goose Down
ALTER TABLE `consents` DROP COLUMN `expires_at`;
DROP TABLE `claim_sets`;
