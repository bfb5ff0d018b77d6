//! The records of data subject requests.

use custos_core::dsr::{Regulation, RequestStatus, RequestType, Schedule, Subject};
use custos_core::identity::{Identity, IdentityType, Mpid};
use custos_core::ids::{AccountId, OrgId, WorkspaceId};

/// A workspace's key, for the Data Subject Request API's Basic auth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredWorkspace {
    pub workspace_id: WorkspaceId,
    pub account_id: AccountId,
    pub org_id: OrgId,
    pub secret_hash: String,
}

/// A validated request, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubjectRequest {
    pub workspace_id: WorkspaceId,
    pub request_id: String,
    pub regulation: Regulation,
    pub request_type: RequestType,
    pub subject: Subject,
    /// Keyed hashes of the subject's identities: what remains once the request ends.
    pub subject_keys: Vec<String>,
    /// A keyed hash of the type and identities: two open requests may not share it.
    pub overlap_key: String,
    pub group_id: Option<String>,
    pub api_version: String,
    pub submitted_at_ms: i64,
    pub received_at_ms: i64,
    pub schedule: Schedule,
    /// Erase with suppression: later data carrying an erased identity is dropped.
    pub suppress: bool,
    pub callback_urls: Vec<String>,
}

/// A request as the API and the CLI show it. Never its identities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectRequest {
    pub workspace_id: WorkspaceId,
    pub request_id: String,
    pub regulation: Regulation,
    pub request_type: RequestType,
    pub status: RequestStatus,
    pub group_id: Option<String>,
    pub api_version: String,
    pub submitted_at_ms: i64,
    pub received_at_ms: i64,
    pub process_after_ms: i64,
    pub expected_completion_ms: i64,
    pub suppress: bool,
    pub callback_urls: Vec<String>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub failure_reason: Option<String>,
    pub matched_profiles: Option<i64>,
    pub export_bytes: Option<i64>,
    pub export_expires_ms: Option<i64>,
    pub updated_at_ms: i64,
    pub completed_at_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    Created(Box<SubjectRequest>),
    /// The workspace already has a request of this id.
    AlreadyExists,
    /// An open request of the same type names the same identities.
    Overlaps,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    Cancelled(Box<SubjectRequest>),
    /// Processing has started or the request has ended.
    TooLate(Box<SubjectRequest>),
    NotFound,
}

/// The steps of processing already done, so a resumed request skips them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The subject's data is deleted; what remains is scrubbing and completing.
    Erased,
}

impl Phase {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Phase::Erased => "erased",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Phase> {
        (text == "erased").then_some(Phase::Erased)
    }
}

/// A request a worker holds the lease of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedRequest {
    pub request: SubjectRequest,
    /// `None` once the identities are replaced by hashes.
    pub subject: Option<Subject>,
    pub phase: Option<Phase>,
}

/// One step of a request's audit trail. `detail` is JSON without personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at_ms: i64,
    pub step: String,
    pub detail: String,
}

/// Rows deleted by an erasure, per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ErasureReport {
    pub profiles: u64,
    pub identities: u64,
    pub attributes: u64,
    pub consent: u64,
    pub batches: u64,
    pub events: u64,
    pub export_chunks: u64,
    pub suppressed_identities: u64,
}

/// How an access or portability request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportDone {
    pub export_bytes: i64,
    pub expires_at_ms: i64,
}

/// A status callback due for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackDelivery {
    pub id: i64,
    pub workspace_id: WorkspaceId,
    pub request_id: String,
    pub url: String,
    /// The status the request changed to.
    pub status: RequestStatus,
    pub attempts: i64,
    pub created_at_ms: i64,
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackResult {
    Delivered { http_status: u16 },
    Retry { next_attempt_ms: i64, error: String },
    GaveUp { error: String },
}

/// The processor's signing identity, shared by every node: its private
/// key sealed with the master key, and its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessorIdentity {
    pub key_sealed: String,
    pub certificate_pem: String,
}

/// The subject as stored until the request ends: JSON, `{"mpid": n}` or
/// `{"identities": [[type, value], …]}`.
pub(crate) fn encode_subject(subject: &Subject) -> String {
    match subject {
        Subject::Mpid(mpid) => serde_json::json!({ "mpid": mpid.0 }).to_string(),
        Subject::Identities(identities) => {
            let pairs: Vec<[&str; 2]> = identities.iter().map(|i| [i.kind.as_str(), i.value.as_str()]).collect();
            serde_json::json!({ "identities": pairs }).to_string()
        }
    }
}

pub(crate) fn decode_subject(text: &str) -> Option<Subject> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    if let Some(mpid) = value.get("mpid").and_then(|m| m.as_i64()) {
        return Some(Subject::Mpid(Mpid(mpid)));
    }
    let identities = value
        .get("identities")?
        .as_array()?
        .iter()
        .filter_map(|pair| {
            let kind = IdentityType::parse(pair.get(0)?.as_str()?).ok()?;
            Some(Identity::new(kind, pair.get(1)?.as_str()?))
        })
        .collect();
    Some(Subject::Identities(identities))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_round_trip() {
        for subject in [
            Subject::Mpid(Mpid(-42)),
            Subject::Identities(vec![
                Identity::new(IdentityType::Email, "a\"b@example.com"),
                Identity::new(IdentityType::CustomerId, "c1"),
            ]),
        ] {
            assert_eq!(decode_subject(&encode_subject(&subject)), Some(subject));
        }
    }
}
