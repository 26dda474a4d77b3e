-- Migration 3 on PostgreSQL: clients.can_introspect and an index on the subject of every token
-- table (see ../mysql/00003_security.sql).

-- +goose Up
ALTER TABLE clients ADD COLUMN can_introspect boolean NOT NULL DEFAULT false;
CREATE INDEX idx_access_tokens_subject ON access_tokens (subject);
CREATE INDEX idx_authorize_codes_subject ON authorize_codes (subject);
CREATE INDEX idx_oidc_sessions_subject ON oidc_sessions (subject);
CREATE INDEX idx_pkce_requests_subject ON pkce_requests (subject);
CREATE INDEX idx_refresh_tokens_subject ON refresh_tokens (subject);

-- +goose Down
DROP INDEX idx_refresh_tokens_subject;
DROP INDEX idx_pkce_requests_subject;
DROP INDEX idx_oidc_sessions_subject;
DROP INDEX idx_authorize_codes_subject;
DROP INDEX idx_access_tokens_subject;
ALTER TABLE clients DROP COLUMN can_introspect;
