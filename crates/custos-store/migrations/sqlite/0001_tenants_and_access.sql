-- Tenants, their credentials, OAuth tokens and custom access roles.
-- Timestamps are Unix seconds (UTC). Secrets are never stored: only SHA-256 digests, hex.

CREATE TABLE organizations (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    name               TEXT    NOT NULL,
    created_at         INTEGER NOT NULL,
    roles_modified_at  INTEGER,
    roles_modified_by  TEXT
);

CREATE TABLE accounts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id      INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX accounts_by_org ON accounts(org_id);

CREATE TABLE workspaces (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    org_id       INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    api_key      TEXT    NOT NULL UNIQUE,
    secret_hash  TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
);

CREATE TABLE inputs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    kind          TEXT    NOT NULL CHECK (kind IN ('web', 'server')),
    api_key       TEXT    NOT NULL UNIQUE,
    secret_hash   TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE api_credentials (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id       INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    client_id    TEXT    NOT NULL UNIQUE,
    secret_hash  TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    scopes       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX api_credentials_by_org ON api_credentials(org_id);

CREATE TABLE access_tokens (
    token_hash     TEXT    PRIMARY KEY,
    credential_id  INTEGER NOT NULL REFERENCES api_credentials(id) ON DELETE CASCADE,
    expires_at     INTEGER NOT NULL
);
CREATE INDEX access_tokens_by_credential ON access_tokens(credential_id);
CREATE INDEX access_tokens_by_expiry ON access_tokens(expires_at);

CREATE TABLE custom_roles (
    org_id       INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    role_id      TEXT    NOT NULL,
    position     INTEGER NOT NULL,
    name         TEXT    NOT NULL,
    description  TEXT    NOT NULL,
    tasks        TEXT    NOT NULL,
    PRIMARY KEY (org_id, role_id)
);

CREATE TABLE org_users (
    org_id      INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    email       TEXT    NOT NULL,
    role_id     TEXT    NOT NULL,
    role_kind   TEXT    NOT NULL CHECK (role_kind IN ('custom', 'standard')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (org_id, email)
);
CREATE INDEX org_users_by_role ON org_users(org_id, role_kind, role_id);
