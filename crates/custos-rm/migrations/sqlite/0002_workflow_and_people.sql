-- The workflow around a request (verification, approval, extension, delivery),
-- the people and roles of the console, scoped API tokens, subjects' one-time
-- links, mail waiting to be sent, and the audit log beyond requests.
-- Timestamps are Unix milliseconds (UTC).

-- Tokens have a name (for the audit trail) and a role; the first token stays full power.
ALTER TABLE api_tokens ADD COLUMN name TEXT;
ALTER TABLE api_tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'super_admin';
UPDATE api_tokens SET name = 'token-' || id WHERE name IS NULL;

-- A Custos platform's signing certificate, pinned by its SHA-256 fingerprint
-- when connected, and accepted anew only by a re-check.
ALTER TABLE connections ADD COLUMN certificate_sha256 TEXT;
ALTER TABLE connections ADD COLUMN checked_at INTEGER;

-- Requests keep what their workflow needs; the old job-derived statuses map onto it.
ALTER TABLE requests ADD COLUMN verify INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN needs_approval INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN timer_at INTEGER;
ALTER TABLE requests ADD COLUMN extended_deadline_at INTEGER;
ALTER TABLE requests ADD COLUMN extension_days INTEGER;
ALTER TABLE requests ADD COLUMN extension_reason TEXT;
ALTER TABLE requests ADD COLUMN denial_reason TEXT;
-- Operator notices sent: 1 five days before the deadline, 2 overdue, 4 failed.
ALTER TABLE requests ADD COLUMN notices INTEGER NOT NULL DEFAULT 0;
UPDATE requests SET status = 'processing' WHERE status IN ('pending', 'in_progress');
UPDATE requests SET notices = 7 WHERE status IN ('completed', 'failed');
CREATE INDEX requests_by_timer ON requests(timer_at) WHERE timer_at IS NOT NULL;
CREATE INDEX requests_by_receipt ON requests(received_at, id);

-- Who made each line of a request's trail: a user's email, `token NAME`, `cli`; NULL is the system.
ALTER TABLE audit ADD COLUMN actor TEXT;

-- The Request Manager's people: their role, and whether they get operator notices.
CREATE TABLE users (
    email       TEXT    PRIMARY KEY,
    role        TEXT    NOT NULL,
    notify      INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);

-- The console's accounts (custos-kit's ConsoleAccounts).
CREATE TABLE console_logins (
    email          TEXT    PRIMARY KEY,
    password_hash  TEXT,
    created_at     INTEGER NOT NULL
);
CREATE TABLE console_links (
    digest      TEXT    PRIMARY KEY,
    email       TEXT    NOT NULL REFERENCES console_logins(email) ON DELETE CASCADE,
    purpose     TEXT    NOT NULL CHECK (purpose IN ('invite', 'reset')),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX console_links_by_email ON console_links(email);
CREATE TABLE console_sessions (
    digest        TEXT    PRIMARY KEY,
    email         TEXT    NOT NULL REFERENCES console_logins(email) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL
);
CREATE INDEX console_sessions_by_email ON console_sessions(email);
CREATE TABLE console_sign_in_failures (
    email  TEXT    NOT NULL,
    at     INTEGER NOT NULL
);
CREATE INDEX console_sign_in_failures_by_email ON console_sign_in_failures(email, at);

-- A subject's one-time links (verification, download), by the SHA-256 of their token.
CREATE TABLE subject_links (
    digest         TEXT    PRIMARY KEY,
    request_id     TEXT    NOT NULL REFERENCES requests(id),
    purpose        TEXT    NOT NULL CHECK (purpose IN ('verify', 'download')),
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER,
    uses           INTEGER NOT NULL DEFAULT 0,
    max_uses       INTEGER NOT NULL,
    revoked_at     INTEGER
);
CREATE INDEX subject_links_by_request ON subject_links(request_id, purpose);

-- Mail to send: recipient and body sealed (they hold addresses and links).
CREATE TABLE outbox (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id        TEXT    REFERENCES requests(id),
    kind              TEXT    NOT NULL,
    recipient_sealed  TEXT    NOT NULL,
    subject           TEXT    NOT NULL,
    body_sealed       TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    next_attempt_at   INTEGER,
    attempts          INTEGER NOT NULL DEFAULT 0,
    last_error        TEXT,
    sent_at           INTEGER,
    sent_by           TEXT
);
CREATE INDEX outbox_unsent ON outbox(next_attempt_at, id) WHERE sent_at IS NULL;

-- What people and tokens did outside a request: sign-ins, users, tokens, connections.
CREATE TABLE activity (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    actor  TEXT    NOT NULL,
    event  TEXT    NOT NULL
);
