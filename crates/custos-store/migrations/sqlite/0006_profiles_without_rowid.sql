-- Profiles, their identities, attributes and consent, stored in the order of
-- their primary key (WITHOUT ROWID): a row lives in one B-tree instead of a
-- table plus the index of its key, so an upsert on the ingest path writes
-- one page where it wrote two. Same columns, same keys.

CREATE TABLE profiles_by_key (
    workspace_id   INTEGER NOT NULL,
    mpid           INTEGER NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL,
    opted_out      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, mpid)
) WITHOUT ROWID;
INSERT INTO profiles_by_key SELECT workspace_id, mpid, created_at_ms, updated_at_ms, opted_out FROM profiles;
DROP TABLE profiles;
ALTER TABLE profiles_by_key RENAME TO profiles;

CREATE TABLE profile_identities_by_key (
    workspace_id   INTEGER NOT NULL,
    identity_type  TEXT    NOT NULL,
    value          TEXT    NOT NULL,
    mpid           INTEGER NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, identity_type, value)
) WITHOUT ROWID;
INSERT INTO profile_identities_by_key
    SELECT workspace_id, identity_type, value, mpid, created_at_ms FROM profile_identities;
DROP TABLE profile_identities;
ALTER TABLE profile_identities_by_key RENAME TO profile_identities;
CREATE INDEX profile_identities_by_profile ON profile_identities(workspace_id, mpid);

CREATE TABLE profile_attributes_by_key (
    workspace_id   INTEGER NOT NULL,
    mpid           INTEGER NOT NULL,
    name           TEXT    NOT NULL,
    value_json     TEXT    NOT NULL,
    updated_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, mpid, name)
) WITHOUT ROWID;
INSERT INTO profile_attributes_by_key
    SELECT workspace_id, mpid, name, value_json, updated_at_ms FROM profile_attributes;
DROP TABLE profile_attributes;
ALTER TABLE profile_attributes_by_key RENAME TO profile_attributes;

CREATE TABLE profile_consent_by_key (
    workspace_id   INTEGER NOT NULL,
    mpid           INTEGER NOT NULL,
    regulation     TEXT    NOT NULL,
    purpose        TEXT    NOT NULL,
    state_json     TEXT    NOT NULL,
    PRIMARY KEY (workspace_id, mpid, regulation, purpose)
) WITHOUT ROWID;
INSERT INTO profile_consent_by_key
    SELECT workspace_id, mpid, regulation, purpose, state_json FROM profile_consent;
DROP TABLE profile_consent;
ALTER TABLE profile_consent_by_key RENAME TO profile_consent;
