-- Migration 5 on PostgreSQL: token_revocations (see ../mysql/00005_token_revocations.sql).

-- +goose Up
CREATE TABLE token_revocations (
    id character varying(64) NOT NULL,
    revoked_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL
);
ALTER TABLE ONLY token_revocations
    ADD CONSTRAINT token_revocations_pkey PRIMARY KEY (id);
CREATE INDEX idx_token_revocations_expires_at ON token_revocations USING btree (expires_at);

-- +goose Down
DROP TABLE IF EXISTS token_revocations;
