-- Profiles (keyed by MPID within a workspace), their identities, attributes
-- and consent, and the event batches received. Times are Unix milliseconds.
-- Flags are integers 0/1 so the same SQL runs on both backends.

CREATE TABLE profiles (
    workspace_id   INTEGER NOT NULL,
    mpid           INTEGER NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL,
    opted_out      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, mpid)
);

-- An identity belongs to at most one profile of a workspace.
CREATE TABLE profile_identities (
    workspace_id   INTEGER NOT NULL,
    identity_type  TEXT    NOT NULL,
    value          TEXT    NOT NULL,
    mpid           INTEGER NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, identity_type, value)
);
CREATE INDEX profile_identities_by_profile ON profile_identities(workspace_id, mpid);

CREATE TABLE profile_attributes (
    workspace_id   INTEGER NOT NULL,
    mpid           INTEGER NOT NULL,
    name           TEXT    NOT NULL,
    value_json     TEXT    NOT NULL,
    updated_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, mpid, name)
);

CREATE TABLE profile_consent (
    workspace_id   INTEGER NOT NULL,
    mpid           INTEGER NOT NULL,
    regulation     TEXT    NOT NULL,
    purpose        TEXT    NOT NULL,
    state_json     TEXT    NOT NULL,
    PRIMARY KEY (workspace_id, mpid, regulation, purpose)
);

CREATE TABLE batches (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id       INTEGER NOT NULL,
    input_id           INTEGER NOT NULL,
    mpid               INTEGER NOT NULL,
    source_request_id  TEXT,
    received_at_ms     INTEGER NOT NULL,
    event_count        INTEGER NOT NULL,
    body               TEXT    NOT NULL
);
-- A source_request_id is stored once per input (key).
CREATE UNIQUE INDEX batches_dedup ON batches(input_id, source_request_id) WHERE source_request_id IS NOT NULL;
CREATE INDEX batches_by_profile ON batches(workspace_id, mpid);

-- Input secrets sealed with the server's master key (AES-256-GCM): the
-- Identity API's HMAC signatures need the secret itself.
ALTER TABLE inputs ADD COLUMN secret_sealed TEXT;
