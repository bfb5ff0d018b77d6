-- The Request Manager: its tokens, connections, requests, their jobs and audit trail.
-- Timestamps are Unix milliseconds (UTC). Secrets and identities are sealed
-- (AES-256-GCM, base64) or, for API tokens, stored as SHA-256 digests (hex).

CREATE TABLE settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    digest      TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE connections (
    id                       INTEGER PRIMARY KEY AUTOINCREMENT,
    name                     TEXT    NOT NULL,
    pod                      TEXT,
    base_url                 TEXT,
    workspace_key            TEXT    NOT NULL,
    workspace_secret_sealed  TEXT    NOT NULL,
    web_key                  TEXT    NOT NULL,
    web_secret_sealed        TEXT    NOT NULL,
    created_at               INTEGER NOT NULL,
    removed_at               INTEGER,
    CHECK ((pod IS NULL) <> (base_url IS NULL))
);
CREATE UNIQUE INDEX connections_by_active_name ON connections(name) WHERE removed_at IS NULL;

CREATE TABLE requests (
    id              TEXT    PRIMARY KEY,
    kind            TEXT    NOT NULL,
    regulation      TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    subject_sealed  TEXT    NOT NULL,
    subject_kinds   TEXT    NOT NULL,
    received_at     INTEGER NOT NULL,
    deadline_at     INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER
);
CREATE INDEX requests_by_creation ON requests(created_at, id);
CREATE INDEX requests_by_status ON requests(status, created_at, id);

-- One row per (request, connection): the connection's share of the request.
CREATE TABLE jobs (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id            TEXT    NOT NULL REFERENCES requests(id),
    connection_id         INTEGER NOT NULL REFERENCES connections(id),
    connection_name       TEXT    NOT NULL,
    processor_request_id  TEXT    NOT NULL UNIQUE,
    step                  TEXT    NOT NULL,
    status                TEXT    NOT NULL,
    attempts              INTEGER NOT NULL DEFAULT 0,
    next_attempt_at       INTEGER,
    claimed_until         INTEGER,
    woken                 INTEGER NOT NULL DEFAULT 0,
    processor_status      TEXT,
    results_url           TEXT,
    mpids_sealed          TEXT,
    last_error            TEXT,
    updated_at            INTEGER NOT NULL
);
CREATE INDEX jobs_by_due_time ON jobs(next_attempt_at, id) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX jobs_by_request ON jobs(request_id);
CREATE INDEX jobs_by_connection ON jobs(connection_id) WHERE next_attempt_at IS NOT NULL;

CREATE TABLE job_results (
    job_id  INTEGER PRIMARY KEY REFERENCES jobs(id),
    body    BLOB    NOT NULL
);

CREATE TABLE audit (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id       TEXT    NOT NULL REFERENCES requests(id),
    connection_name  TEXT,
    at               INTEGER NOT NULL,
    event            TEXT    NOT NULL
);
CREATE INDEX audit_by_request ON audit(request_id, id);
