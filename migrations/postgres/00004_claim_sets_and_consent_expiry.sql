-- Migration 4 on PostgreSQL: claim sets and consents.expires_at (see ../mysql/00004_claim_sets_and_consent_expiry.sql).

-- +goose Up
CREATE TABLE claim_sets (
    scope character varying(191) NOT NULL,
    display_name character varying(255) NOT NULL,
    claims text NOT NULL,
    enabled boolean NOT NULL,
    origin character varying(32) NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    CONSTRAINT claim_sets_pkey PRIMARY KEY (scope)
);
ALTER TABLE consents ADD COLUMN expires_at timestamp with time zone;

-- +goose Down
ALTER TABLE consents DROP COLUMN expires_at;
DROP TABLE claim_sets;
