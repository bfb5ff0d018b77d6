//! The rows the store takes and gives.

use time::OffsetDateTime;

use crate::domain::job::JobState;
use crate::domain::request::{Regulation, RequestKind, RequestStatus};

#[derive(Debug, Clone)]
pub struct NewConnection {
    pub name: String,
    /// `US1`… for mParticle, or `None` with a base URL.
    pub pod: Option<String>,
    pub base_url: Option<String>,
    pub workspace_key: String,
    pub workspace_secret_sealed: String,
    pub web_key: String,
    pub web_secret_sealed: String,
    pub created_at: OffsetDateTime,
}

/// A connection as shown: no secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: i64,
    pub name: String,
    pub pod: Option<String>,
    pub base_url: Option<String>,
    pub workspace_key: String,
    pub web_key: String,
    pub created_at: OffsetDateTime,
}

/// A connection with its sealed secrets, for the worker.
#[derive(Clone)]
pub struct StoredConnection {
    pub connection: Connection,
    pub workspace_secret_sealed: String,
    pub web_secret_sealed: String,
    pub removed: bool,
}

#[derive(Debug, Clone)]
pub struct NewRequest {
    /// A UUID, chosen by the caller.
    pub id: String,
    pub kind: RequestKind,
    pub regulation: Regulation,
    pub subject_sealed: String,
    /// The kinds of identity given (`email`, …), never their values.
    pub subject_kinds: Vec<String>,
    pub received_at: OffsetDateTime,
    pub deadline: OffsetDateTime,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewJob {
    pub connection_id: i64,
    /// The OpenDSR `subject_request_id` (a lowercase UUID v4), fixed before
    /// any attempt so that a retried submission is recognised as a duplicate.
    pub processor_request_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub id: String,
    pub kind: RequestKind,
    pub regulation: Regulation,
    pub status: RequestStatus,
    pub subject_kinds: Vec<String>,
    pub received_at: OffsetDateTime,
    pub deadline: OffsetDateTime,
    pub created_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub id: i64,
    pub request_id: String,
    pub connection_id: i64,
    pub connection_name: String,
    pub processor_request_id: String,
    pub state: JobState,
    pub next_attempt_at: Option<OffsetDateTime>,
    /// The last status the processor reported.
    pub processor_status: Option<String>,
    /// Why the job failed or last needed a retry; no personal data.
    pub last_error: Option<String>,
    pub has_results: bool,
    pub updated_at: OffsetDateTime,
}

/// One line of a request's audit trail: a step or a status, never an identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: OffsetDateTime,
    pub connection_name: Option<String>,
    pub event: String,
}

#[derive(Debug, Clone)]
pub struct RequestDetail {
    pub request: RequestRecord,
    pub jobs: Vec<JobRecord>,
    pub audit: Vec<AuditEntry>,
}

#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub status: Option<RequestStatus>,
    /// Only requests past their deadline (or only those within it), as of
    /// the `now` the list is asked for.
    pub overdue: Option<bool>,
    pub limit: i64,
    pub offset: i64,
}

/// How many requests are in a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestCount {
    pub status: RequestStatus,
    pub count: i64,
}

/// The sealed results one job downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobResults {
    pub connection_name: String,
    pub results_sealed: Vec<u8>,
}

/// A job with what working on it needs.
#[derive(Clone)]
pub struct WorkItem {
    pub job: JobRecord,
    pub kind: RequestKind,
    pub regulation: Regulation,
    pub subject_sealed: String,
    pub received_at: OffsetDateTime,
    pub connection: StoredConnection,
    pub results_url: Option<String>,
    /// The sealed MPIDs the lookup found.
    pub mpids_sealed: Option<String>,
}

/// What a step changes. `None` fields keep their stored value.
#[derive(Debug, Clone)]
pub struct JobUpdate {
    pub state: JobState,
    /// When the job is next due; `None` once it is finished.
    pub next_attempt_at: Option<OffsetDateTime>,
    /// Keep the job claimed until then, for a worker that goes on at once.
    pub keep_claim_until: Option<OffsetDateTime>,
    pub processor_status: Option<String>,
    pub results_url: Option<String>,
    pub mpids_sealed: Option<String>,
    /// Replaces the stored error; `None` clears it.
    pub last_error: Option<String>,
    pub results_sealed: Option<Vec<u8>>,
    pub audit: String,
}

impl JobUpdate {
    pub fn new(state: JobState, next_attempt_at: Option<OffsetDateTime>, audit: impl Into<String>) -> JobUpdate {
        JobUpdate {
            state,
            next_attempt_at,
            keep_claim_until: None,
            processor_status: None,
            results_url: None,
            mpids_sealed: None,
            last_error: None,
            results_sealed: None,
            audit: audit.into(),
        }
    }
}
