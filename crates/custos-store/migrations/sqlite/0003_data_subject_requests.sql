-- Data subject requests (OpenDSR v3): the requests, which are also the job
-- queue, their audit trail, the callbacks owed, access exports, and the
-- suppressed identities of erased subjects. Times are Unix milliseconds.
--
-- Personal data: `subject_json` holds the identities named by a request
-- only until it ends; then it is NULL and only keyed hashes remain
-- (`subject_keys`, `overlap_key`, `dsr_suppressions.key`). Export chunks hold
-- personal data until they expire or the subject is erased.

CREATE TABLE dsr_requests (
    workspace_id            INTEGER NOT NULL,
    request_id              TEXT    NOT NULL,
    regulation              TEXT    NOT NULL,
    request_type            TEXT    NOT NULL,
    status                  TEXT    NOT NULL,
    -- The last step done, so a request resumed after a crash does not redo it.
    phase                   TEXT,
    group_id                TEXT,
    api_version             TEXT    NOT NULL,
    submitted_at_ms         INTEGER NOT NULL,
    received_at_ms          INTEGER NOT NULL,
    process_after_ms        INTEGER NOT NULL,
    expected_completion_ms  INTEGER NOT NULL,
    suppress                INTEGER NOT NULL,
    subject_json            TEXT,
    subject_keys            TEXT    NOT NULL,
    overlap_key             TEXT    NOT NULL,
    callback_urls           TEXT    NOT NULL,
    attempts                INTEGER NOT NULL DEFAULT 0,
    next_run_ms             INTEGER NOT NULL,
    lease_owner             TEXT,
    lease_until_ms          INTEGER,
    last_error              TEXT,
    failure_reason          TEXT,
    matched_profiles        INTEGER,
    export_bytes            INTEGER,
    export_expires_ms       INTEGER,
    updated_at_ms           INTEGER NOT NULL,
    completed_at_ms         INTEGER,
    PRIMARY KEY (workspace_id, request_id)
);
-- At most one open request of a type for the same identities.
CREATE UNIQUE INDEX dsr_requests_open_overlap ON dsr_requests(workspace_id, overlap_key)
    WHERE status IN ('pending', 'in_progress');
CREATE INDEX dsr_requests_due ON dsr_requests(next_run_ms) WHERE status IN ('pending', 'in_progress');
CREATE INDEX dsr_requests_by_group ON dsr_requests(workspace_id, group_id);
CREATE INDEX dsr_requests_by_received ON dsr_requests(workspace_id, received_at_ms);
CREATE INDEX dsr_requests_exports ON dsr_requests(export_expires_ms) WHERE export_expires_ms IS NOT NULL;

CREATE TABLE dsr_audit (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id  INTEGER NOT NULL,
    request_id    TEXT    NOT NULL,
    at_ms         INTEGER NOT NULL,
    step          TEXT    NOT NULL,
    detail        TEXT    NOT NULL
);
CREATE INDEX dsr_audit_by_request ON dsr_audit(workspace_id, request_id, id);

-- The profiles a request reached, so that erasing a subject also removes
-- the exports made for them.
CREATE TABLE dsr_request_profiles (
    workspace_id  INTEGER NOT NULL,
    request_id    TEXT    NOT NULL,
    mpid          INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, request_id, mpid)
);
CREATE INDEX dsr_request_profiles_by_profile ON dsr_request_profiles(workspace_id, mpid);

CREATE TABLE dsr_export_chunks (
    workspace_id  INTEGER NOT NULL,
    request_id    TEXT    NOT NULL,
    seq           INTEGER NOT NULL,
    data          BLOB    NOT NULL,
    PRIMARY KEY (workspace_id, request_id, seq)
);

-- Status callbacks owed: one row per status change and callback URL.
CREATE TABLE dsr_callbacks (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id     INTEGER NOT NULL,
    request_id       TEXT    NOT NULL,
    url              TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    created_at_ms    INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms  INTEGER NOT NULL,
    lease_until_ms   INTEGER,
    done_at_ms       INTEGER
);
CREATE INDEX dsr_callbacks_due ON dsr_callbacks(next_attempt_ms) WHERE done_at_ms IS NULL;

-- Keyed hashes of identities whose subjects were erased with suppression.
CREATE TABLE dsr_suppressions (
    workspace_id   INTEGER NOT NULL,
    key            TEXT    NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, key)
);

-- The processor's signing key (sealed with the master key) and certificate,
-- shared by every node.
CREATE TABLE processor_identity (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    key_sealed       TEXT    NOT NULL,
    certificate_pem  TEXT    NOT NULL,
    created_at_ms    INTEGER NOT NULL
);
