//! The rows the store takes and gives.

use time::OffsetDateTime;

use crate::domain::extension::Extension;
use crate::domain::job::JobState;
use crate::domain::request::{Regulation, RequestKind, RequestStatus};
use crate::domain::role::Role;

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
    /// A Custos platform's signing certificate, pinned.
    pub certificate_sha256: Option<String>,
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
    /// The pinned SHA-256 fingerprint of a Custos platform's signing certificate.
    pub certificate_sha256: Option<String>,
    /// When it was last checked (connected or re-checked).
    pub checked_at: Option<OffsetDateTime>,
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
    /// Where the workflow puts it on receipt; its jobs are due at once only when `processing`.
    pub status: RequestStatus,
    pub verify: bool,
    pub needs_approval: bool,
    /// When its status's timer fires (the verification link's expiry).
    pub timer_at: Option<OffsetDateTime>,
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
    /// When it was answered: its package delivered, or closed.
    pub finished_at: Option<OffsetDateTime>,
    pub verify: bool,
    pub needs_approval: bool,
    /// When its status's timer fires (a link's expiry), if it has one.
    pub timer_at: Option<OffsetDateTime>,
    pub extension: Option<Extension>,
    /// Why it was denied; the subject is told.
    pub denial_reason: Option<String>,
    /// Operator notices sent ([`NOTICE_DUE_SOON`], [`NOTICE_OVERDUE`], [`NOTICE_FAILED`]).
    pub notices: i64,
}

/// Told to operators five days before the deadline.
pub const NOTICE_DUE_SOON: i64 = 1;
/// Told to operators when the deadline passed.
pub const NOTICE_OVERDUE: i64 = 2;
/// Told to operators when the request failed.
pub const NOTICE_FAILED: i64 = 4;

impl RequestRecord {
    /// The deadline in force: the extended one once extended.
    pub fn effective_deadline(&self) -> OffsetDateTime {
        self.extension.as_ref().map_or(self.deadline, |extension| extension.deadline)
    }

    /// Whether the subject gave an email address (verification and delivery go there).
    pub fn has_email(&self) -> bool {
        self.subject_kinds.iter().any(|kind| kind == "email")
    }
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
    /// Who: a user's email, `token NAME`, `cli`; `None` is the system.
    pub actor: Option<String>,
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
    pub kind: Option<RequestKind>,
    pub regulation: Option<Regulation>,
    /// Keyset paging: only requests listed after this one (its creation time and id).
    pub after: Option<(OffsetDateTime, String)>,
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

/// A user of the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub email: String,
    pub role: Role,
    /// Told when a request fails, nears its deadline or passes it.
    pub notify: bool,
    pub created_at: OffsetDateTime,
}

/// An API token's name (for the audit trail) and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub name: String,
    pub role: Role,
}

/// A line of the audit log: outside any request, or of a request's trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityEntry {
    pub at: OffsetDateTime,
    /// A user's email, `token NAME`, `cli` or `system`.
    pub actor: String,
    pub event: String,
    pub request_id: Option<String>,
    pub connection_name: Option<String>,
}

/// What a subject's one-time link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectLinkPurpose {
    /// Confirms the request (used once).
    Verify,
    /// Downloads an access request's package (a few times).
    Download,
}

impl SubjectLinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectLinkPurpose::Verify => "verify",
            SubjectLinkPurpose::Download => "download",
        }
    }

    pub fn parse(text: &str) -> Option<SubjectLinkPurpose> {
        [SubjectLinkPurpose::Verify, SubjectLinkPurpose::Download].into_iter().find(|p| p.as_str() == text)
    }
}

/// A link to issue; its token is not here, only its SHA-256 digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubjectLink {
    pub digest: String,
    pub purpose: SubjectLinkPurpose,
    pub expires_at: OffsetDateTime,
    pub max_uses: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectLink {
    pub request_id: String,
    pub purpose: SubjectLinkPurpose,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub uses: i64,
    pub max_uses: i64,
    /// Replaced by a newer link of the same purpose.
    pub revoked: bool,
}

impl SubjectLink {
    /// Whether it can be followed (once more) at `now`.
    pub fn usable(&self, now: OffsetDateTime) -> bool {
        !self.revoked && self.uses < self.max_uses && now < self.expires_at
    }
}

/// A message to send. Recipient and body are sealed: they hold an address and links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMail {
    /// What it says: `verification`, `delivery`, `denied`, … (for the list kept for sending by hand).
    pub kind: String,
    pub recipient_sealed: String,
    pub subject: String,
    pub body_sealed: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMail {
    pub id: i64,
    pub request_id: Option<String>,
    pub kind: String,
    pub recipient_sealed: String,
    pub subject: String,
    pub body_sealed: String,
    pub created_at: OffsetDateTime,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub sent_at: Option<OffsetDateTime>,
    pub sent_by: Option<String>,
}

/// A decided change to a request, written only if it is still in `from`:
/// its status, timer and details, the effects that go with it (a link
/// issued, mail queued, jobs started), and its audit lines.
#[derive(Debug, Clone)]
pub struct RequestChange {
    pub id: String,
    pub from: RequestStatus,
    pub to: RequestStatus,
    /// Replaces the timer.
    pub timer_at: Option<OffsetDateTime>,
    pub extension: Option<Extension>,
    pub denial_reason: Option<String>,
    /// Makes its pending jobs due now.
    pub start_jobs: bool,
    /// A link (by digest) used up by this change.
    pub use_link: Option<String>,
    /// A link issued; the unused links of its purpose are revoked.
    pub link: Option<NewSubjectLink>,
    pub mail: Vec<NewMail>,
    /// Operator notices this change sends.
    pub notices: i64,
    /// A user's email, `token NAME`, `cli`; `None` is the system.
    pub actor: Option<String>,
    pub audit: Vec<String>,
}

impl RequestChange {
    /// A change from `from` to `to`, with nothing else yet.
    pub fn new(id: &str, from: RequestStatus, to: RequestStatus, actor: Option<String>) -> RequestChange {
        RequestChange {
            id: id.to_owned(),
            from,
            to,
            timer_at: None,
            extension: None,
            denial_reason: None,
            start_jobs: false,
            use_link: None,
            link: None,
            mail: Vec::new(),
            notices: 0,
            actor,
            audit: Vec::new(),
        }
    }
}
