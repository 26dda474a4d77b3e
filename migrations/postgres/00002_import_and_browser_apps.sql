-- Migration 2 on PostgreSQL: nothing to do. Version 1 on PostgreSQL is already the whole schema
-- that SQLite and MySQL reach at version 2 (IdentityServer4 import tables, clients'
-- allowed_cors_origins and id_token_signed_response_alg); the number keeps the dialects in step.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
