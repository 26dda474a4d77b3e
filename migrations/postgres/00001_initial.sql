-- Migration 1 on PostgreSQL: lingpai's whole schema when PostgreSQL support arrived, dumped from
-- a fresh AutoMigrate of the models (pg_dump --schema-only). PostgreSQL had no release before
-- goose, so it starts here at the schema SQLite and MySQL reach with every later migration; those
-- later versions are empty on PostgreSQL until the schema changes again.

-- +goose Up
CREATE TABLE access_tokens (
    signature character varying(64) NOT NULL,
    request_id character varying(64) NOT NULL,
    requested_at timestamp with time zone NOT NULL,
    client_id character varying(191) NOT NULL,
    subject character varying(191) NOT NULL,
    scopes text NOT NULL,
    granted_scopes text NOT NULL,
    audience text NOT NULL,
    granted_audience text NOT NULL,
    form text NOT NULL,
    session bytea NOT NULL,
    active boolean NOT NULL,
    access_signature character varying(64) NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    created_at timestamp with time zone NOT NULL
);

CREATE TABLE api_resource_secrets (
    id character varying(64) NOT NULL,
    resource character varying(191) NOT NULL,
    hash bytea NOT NULL,
    description character varying(2000) NOT NULL,
    expires_at timestamp with time zone
);

CREATE TABLE api_resources (
    name character varying(191) NOT NULL,
    display_name character varying(255) NOT NULL,
    scopes text NOT NULL,
    enabled boolean NOT NULL,
    updated_at timestamp with time zone NOT NULL
);

CREATE TABLE authorize_codes (
    signature character varying(64) NOT NULL,
    request_id character varying(64) NOT NULL,
    requested_at timestamp with time zone NOT NULL,
    client_id character varying(191) NOT NULL,
    subject character varying(191) NOT NULL,
    scopes text NOT NULL,
    granted_scopes text NOT NULL,
    audience text NOT NULL,
    granted_audience text NOT NULL,
    form text NOT NULL,
    session bytea NOT NULL,
    active boolean NOT NULL,
    access_signature character varying(64) NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    created_at timestamp with time zone NOT NULL
);

CREATE TABLE client_assertion_jtis (
    jti character varying(64) NOT NULL,
    expires_at timestamp with time zone NOT NULL
);

CREATE TABLE client_secrets (
    id character varying(64) NOT NULL,
    client_id character varying(191) NOT NULL,
    hash bytea NOT NULL,
    description character varying(2000) NOT NULL,
    origin character varying(32) NOT NULL,
    expires_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL
);

CREATE TABLE client_settings (
    client_id character varying(191) NOT NULL,
    access_token_lifetime bigint NOT NULL,
    id_token_lifetime bigint NOT NULL,
    auth_code_lifetime bigint NOT NULL,
    absolute_refresh_lifetime bigint NOT NULL,
    sliding_refresh_lifetime bigint NOT NULL,
    refresh_token_reuse boolean NOT NULL,
    refresh_token_sliding boolean NOT NULL,
    client_claims text NOT NULL,
    claims_prefix character varying(64) NOT NULL,
    always_send_client_claims boolean NOT NULL,
    legacy_resource_audience boolean NOT NULL,
    updated_at timestamp with time zone NOT NULL
);

CREATE TABLE clients (
    id character varying(191) NOT NULL,
    name character varying(255) NOT NULL,
    secret_hash bytea,
    public boolean NOT NULL,
    redirect_uris text NOT NULL,
    post_logout_redirect_uris text NOT NULL,
    grant_types text NOT NULL,
    response_types text NOT NULL,
    scopes text NOT NULL,
    audience text NOT NULL,
    require_pkce boolean NOT NULL,
    skip_consent boolean NOT NULL,
    trust_wechat_openid boolean NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    id_token_signed_response_alg character varying(16) DEFAULT ''::character varying NOT NULL,
    allowed_cors_origins text
);

CREATE TABLE consents (
    user_id character varying(64) NOT NULL,
    client_id character varying(191) NOT NULL,
    scopes text NOT NULL,
    updated_at timestamp with time zone NOT NULL
);

CREATE TABLE identities (
    id character varying(64) NOT NULL,
    user_id character varying(64) NOT NULL,
    provider character varying(64) NOT NULL,
    subject character varying(191) NOT NULL,
    claims bytea,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL
);

CREATE TABLE imported_signing_keys (
    k_id character varying(64) NOT NULL,
    origin character varying(32) NOT NULL,
    imported_at timestamp with time zone NOT NULL,
    active_since timestamp with time zone
);

CREATE TABLE leases (
    name character varying(64) NOT NULL,
    holder character varying(191) NOT NULL,
    expires_at timestamp with time zone NOT NULL
);

CREATE TABLE legacy_refresh_tokens (
    lookup_key character varying(64) NOT NULL,
    client_id character varying(191) NOT NULL,
    subject character varying(191) NOT NULL,
    session_id character varying(100) NOT NULL,
    scopes text NOT NULL,
    audience text NOT NULL,
    issued_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    consumed boolean NOT NULL,
    consumed_at timestamp with time zone,
    imported_at timestamp with time zone NOT NULL
);

CREATE TABLE login_sessions (
    id character varying(64) NOT NULL,
    sid character varying(64) NOT NULL,
    user_id character varying(64) NOT NULL,
    auth_time timestamp with time zone NOT NULL,
    amr character varying(64) NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    created_at timestamp with time zone NOT NULL
);

CREATE TABLE oidc_sessions (
    signature character varying(64) NOT NULL,
    request_id character varying(64) NOT NULL,
    requested_at timestamp with time zone NOT NULL,
    client_id character varying(191) NOT NULL,
    subject character varying(191) NOT NULL,
    scopes text NOT NULL,
    granted_scopes text NOT NULL,
    audience text NOT NULL,
    granted_audience text NOT NULL,
    form text NOT NULL,
    session bytea NOT NULL,
    active boolean NOT NULL,
    access_signature character varying(64) NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    created_at timestamp with time zone NOT NULL
);

CREATE TABLE pkce_requests (
    signature character varying(64) NOT NULL,
    request_id character varying(64) NOT NULL,
    requested_at timestamp with time zone NOT NULL,
    client_id character varying(191) NOT NULL,
    subject character varying(191) NOT NULL,
    scopes text NOT NULL,
    granted_scopes text NOT NULL,
    audience text NOT NULL,
    granted_audience text NOT NULL,
    form text NOT NULL,
    session bytea NOT NULL,
    active boolean NOT NULL,
    access_signature character varying(64) NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    created_at timestamp with time zone NOT NULL
);

CREATE TABLE refresh_tokens (
    signature character varying(64) NOT NULL,
    request_id character varying(64) NOT NULL,
    requested_at timestamp with time zone NOT NULL,
    client_id character varying(191) NOT NULL,
    subject character varying(191) NOT NULL,
    scopes text NOT NULL,
    granted_scopes text NOT NULL,
    audience text NOT NULL,
    granted_audience text NOT NULL,
    form text NOT NULL,
    session bytea NOT NULL,
    active boolean NOT NULL,
    access_signature character varying(64) NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    created_at timestamp with time zone NOT NULL
);

CREATE TABLE signing_keys (
    k_id character varying(64) NOT NULL,
    algorithm character varying(16) NOT NULL,
    private_jwk bytea NOT NULL,
    created_at timestamp with time zone NOT NULL,
    retired_at timestamp with time zone
);

CREATE TABLE sms_codes (
    phone character varying(32) NOT NULL,
    code_hash bytea NOT NULL,
    attempts bigint NOT NULL,
    used boolean NOT NULL,
    sent_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL
);

CREATE TABLE system_secrets (
    name character varying(64) NOT NULL,
    value bytea NOT NULL,
    created_at timestamp with time zone NOT NULL
);

CREATE TABLE throttle_counters (
    subject_key character varying(191) NOT NULL,
    bucket bigint NOT NULL,
    count bigint NOT NULL,
    expires_at timestamp with time zone NOT NULL
);

CREATE TABLE throttle_locks (
    subject_key character varying(191) NOT NULL,
    locked_until timestamp with time zone NOT NULL
);

CREATE TABLE user_claims (
    id character varying(64) NOT NULL,
    user_id character varying(64) NOT NULL,
    type character varying(255) NOT NULL,
    value text NOT NULL,
    origin character varying(32) NOT NULL
);

CREATE TABLE user_lockouts (
    user_id character varying(64) NOT NULL,
    until timestamp with time zone NOT NULL
);

CREATE TABLE users (
    id character varying(64) NOT NULL,
    username character varying(191),
    password_hash bytea,
    name character varying(255) NOT NULL,
    email character varying(255) NOT NULL,
    email_verified boolean NOT NULL,
    phone character varying(32),
    phone_verified boolean NOT NULL,
    disabled boolean NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL
);

ALTER TABLE ONLY access_tokens
    ADD CONSTRAINT access_tokens_pkey PRIMARY KEY (signature);

ALTER TABLE ONLY api_resource_secrets
    ADD CONSTRAINT api_resource_secrets_pkey PRIMARY KEY (id);

ALTER TABLE ONLY api_resources
    ADD CONSTRAINT api_resources_pkey PRIMARY KEY (name);

ALTER TABLE ONLY authorize_codes
    ADD CONSTRAINT authorize_codes_pkey PRIMARY KEY (signature);

ALTER TABLE ONLY client_assertion_jtis
    ADD CONSTRAINT client_assertion_jtis_pkey PRIMARY KEY (jti);

ALTER TABLE ONLY client_secrets
    ADD CONSTRAINT client_secrets_pkey PRIMARY KEY (id);

ALTER TABLE ONLY client_settings
    ADD CONSTRAINT client_settings_pkey PRIMARY KEY (client_id);

ALTER TABLE ONLY clients
    ADD CONSTRAINT clients_pkey PRIMARY KEY (id);

ALTER TABLE ONLY consents
    ADD CONSTRAINT consents_pkey PRIMARY KEY (user_id, client_id);

ALTER TABLE ONLY identities
    ADD CONSTRAINT identities_pkey PRIMARY KEY (id);

ALTER TABLE ONLY imported_signing_keys
    ADD CONSTRAINT imported_signing_keys_pkey PRIMARY KEY (k_id);

ALTER TABLE ONLY leases
    ADD CONSTRAINT leases_pkey PRIMARY KEY (name);

ALTER TABLE ONLY legacy_refresh_tokens
    ADD CONSTRAINT legacy_refresh_tokens_pkey PRIMARY KEY (lookup_key);

ALTER TABLE ONLY login_sessions
    ADD CONSTRAINT login_sessions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY oidc_sessions
    ADD CONSTRAINT oidc_sessions_pkey PRIMARY KEY (signature);

ALTER TABLE ONLY pkce_requests
    ADD CONSTRAINT pkce_requests_pkey PRIMARY KEY (signature);

ALTER TABLE ONLY refresh_tokens
    ADD CONSTRAINT refresh_tokens_pkey PRIMARY KEY (signature);

ALTER TABLE ONLY signing_keys
    ADD CONSTRAINT signing_keys_pkey PRIMARY KEY (k_id);

ALTER TABLE ONLY sms_codes
    ADD CONSTRAINT sms_codes_pkey PRIMARY KEY (phone);

ALTER TABLE ONLY system_secrets
    ADD CONSTRAINT system_secrets_pkey PRIMARY KEY (name);

ALTER TABLE ONLY throttle_counters
    ADD CONSTRAINT throttle_counters_pkey PRIMARY KEY (subject_key, bucket);

ALTER TABLE ONLY throttle_locks
    ADD CONSTRAINT throttle_locks_pkey PRIMARY KEY (subject_key);

ALTER TABLE ONLY user_claims
    ADD CONSTRAINT user_claims_pkey PRIMARY KEY (id);

ALTER TABLE ONLY user_lockouts
    ADD CONSTRAINT user_lockouts_pkey PRIMARY KEY (user_id);

ALTER TABLE ONLY users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);

CREATE INDEX idx_access_tokens_client_id ON access_tokens USING btree (client_id);

CREATE INDEX idx_access_tokens_expires_at ON access_tokens USING btree (expires_at);

CREATE INDEX idx_access_tokens_request_id ON access_tokens USING btree (request_id);

CREATE INDEX idx_api_resource_secrets_expires_at ON api_resource_secrets USING btree (expires_at);

CREATE INDEX idx_api_resource_secrets_resource ON api_resource_secrets USING btree (resource);

CREATE INDEX idx_authorize_codes_client_id ON authorize_codes USING btree (client_id);

CREATE INDEX idx_authorize_codes_expires_at ON authorize_codes USING btree (expires_at);

CREATE INDEX idx_authorize_codes_request_id ON authorize_codes USING btree (request_id);

CREATE INDEX idx_client_assertion_jtis_expires_at ON client_assertion_jtis USING btree (expires_at);

CREATE INDEX idx_client_secrets_client_id ON client_secrets USING btree (client_id);

CREATE INDEX idx_client_secrets_expires_at ON client_secrets USING btree (expires_at);

CREATE INDEX idx_identities_user_id ON identities USING btree (user_id);

CREATE UNIQUE INDEX idx_identity_provider_subject ON identities USING btree (provider, subject);

CREATE INDEX idx_legacy_refresh_tokens_client_id ON legacy_refresh_tokens USING btree (client_id);

CREATE INDEX idx_legacy_refresh_tokens_expires_at ON legacy_refresh_tokens USING btree (expires_at);

CREATE INDEX idx_login_sessions_expires_at ON login_sessions USING btree (expires_at);

CREATE INDEX idx_login_sessions_s_id ON login_sessions USING btree (sid);

CREATE INDEX idx_login_sessions_user_id ON login_sessions USING btree (user_id);

CREATE INDEX idx_oidc_sessions_client_id ON oidc_sessions USING btree (client_id);

CREATE INDEX idx_oidc_sessions_expires_at ON oidc_sessions USING btree (expires_at);

CREATE INDEX idx_oidc_sessions_request_id ON oidc_sessions USING btree (request_id);

CREATE INDEX idx_pkce_requests_client_id ON pkce_requests USING btree (client_id);

CREATE INDEX idx_pkce_requests_expires_at ON pkce_requests USING btree (expires_at);

CREATE INDEX idx_pkce_requests_request_id ON pkce_requests USING btree (request_id);

CREATE INDEX idx_refresh_tokens_client_id ON refresh_tokens USING btree (client_id);

CREATE INDEX idx_refresh_tokens_expires_at ON refresh_tokens USING btree (expires_at);

CREATE INDEX idx_refresh_tokens_request_id ON refresh_tokens USING btree (request_id);

CREATE INDEX idx_signing_keys_created_at ON signing_keys USING btree (created_at);

CREATE INDEX idx_signing_keys_retired_at ON signing_keys USING btree (retired_at);

CREATE INDEX idx_sms_codes_expires_at ON sms_codes USING btree (expires_at);

CREATE INDEX idx_throttle_counters_expires_at ON throttle_counters USING btree (expires_at);

CREATE INDEX idx_throttle_locks_locked_until ON throttle_locks USING btree (locked_until);

CREATE INDEX idx_user_claims_user_id ON user_claims USING btree (user_id);

CREATE UNIQUE INDEX idx_users_phone ON users USING btree (phone);

CREATE UNIQUE INDEX idx_users_username ON users USING btree (username);

-- +goose Down
DROP TABLE IF EXISTS users;
DROP TABLE IF EXISTS user_lockouts;
DROP TABLE IF EXISTS user_claims;
DROP TABLE IF EXISTS throttle_locks;
DROP TABLE IF EXISTS throttle_counters;
DROP TABLE IF EXISTS system_secrets;
DROP TABLE IF EXISTS sms_codes;
DROP TABLE IF EXISTS signing_keys;
DROP TABLE IF EXISTS refresh_tokens;
DROP TABLE IF EXISTS pkce_requests;
DROP TABLE IF EXISTS oidc_sessions;
DROP TABLE IF EXISTS login_sessions;
DROP TABLE IF EXISTS legacy_refresh_tokens;
DROP TABLE IF EXISTS leases;
DROP TABLE IF EXISTS imported_signing_keys;
DROP TABLE IF EXISTS identities;
DROP TABLE IF EXISTS consents;
DROP TABLE IF EXISTS clients;
DROP TABLE IF EXISTS client_settings;
DROP TABLE IF EXISTS client_secrets;
DROP TABLE IF EXISTS client_assertion_jtis;
DROP TABLE IF EXISTS authorize_codes;
DROP TABLE IF EXISTS api_resources;
DROP TABLE IF EXISTS api_resource_secrets;
DROP TABLE IF EXISTS access_tokens;
