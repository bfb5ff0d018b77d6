//! Data subject requests (OpenDSR v3, as mParticle implements it): their
//! vocabulary, the identities they may name, their schedule and their states.

use std::time::Duration;

use crate::identity::{Identity, IdentityType, Mpid};

/// The law a request is made under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Regulation {
    Gdpr,
    Ccpa,
}

impl Regulation {
    pub fn parse(text: &str) -> Option<Regulation> {
        match text {
            "gdpr" => Some(Regulation::Gdpr),
            "ccpa" => Some(Regulation::Ccpa),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Regulation::Gdpr => "gdpr",
            Regulation::Ccpa => "ccpa",
        }
    }
}

/// What the data subject asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestType {
    Access,
    Portability,
    /// Deletion of the whole record.
    Erasure,
}

impl RequestType {
    pub const ALL: [RequestType; 3] = [RequestType::Access, RequestType::Erasure, RequestType::Portability];

    pub fn parse(text: &str) -> Option<RequestType> {
        match text {
            "access" => Some(RequestType::Access),
            "portability" => Some(RequestType::Portability),
            "erasure" => Some(RequestType::Erasure),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RequestType::Access => "access",
            RequestType::Portability => "portability",
            RequestType::Erasure => "erasure",
        }
    }

    /// Whether the request produces an export of the subject's data.
    pub fn exports(self) -> bool {
        matches!(self, RequestType::Access | RequestType::Portability)
    }
}

/// Where a request stands. `Failed` is Custos's own: OpenDSR has no such
/// state, so on the wire it reads `cancelled`, with the reason in `extensions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestStatus {
    Pending,
    InProgress,
    Completed,
    Cancelled,
    Failed,
}

impl RequestStatus {
    pub fn parse(text: &str) -> Option<RequestStatus> {
        match text {
            "pending" => Some(RequestStatus::Pending),
            "in_progress" => Some(RequestStatus::InProgress),
            "completed" => Some(RequestStatus::Completed),
            "cancelled" => Some(RequestStatus::Cancelled),
            "failed" => Some(RequestStatus::Failed),
            _ => None,
        }
    }

    /// The name Custos stores and shows to operators.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::InProgress => "in_progress",
            RequestStatus::Completed => "completed",
            RequestStatus::Cancelled => "cancelled",
            RequestStatus::Failed => "failed",
        }
    }

    /// The OpenDSR `request_status`.
    pub fn wire_name(self) -> &'static str {
        match self {
            RequestStatus::Failed => "cancelled",
            other => other.as_str(),
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, RequestStatus::Completed | RequestStatus::Cancelled | RequestStatus::Failed)
    }

    /// A controller may cancel only before processing starts.
    pub fn can_cancel(self) -> bool {
        self == RequestStatus::Pending
    }
}

/// Who a request is about: the identities it names, or one MPID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Identities(Vec<Identity>),
    Mpid(Mpid),
}

/// Something that identifies a subject, as it is hashed for suppression and
/// for the keys a request keeps once its identities are gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trace<'a> {
    Identity(&'a Identity),
    Mpid(Mpid),
}

impl Trace<'_> {
    /// The text that is hashed: the type's canonical name, a NUL, the value.
    pub fn canonical(&self) -> String {
        match self {
            Trace::Identity(identity) => format!("{}\0{}", identity.kind.as_str(), identity.value),
            Trace::Mpid(mpid) => format!("mpid\0{}", mpid.0),
        }
    }
}

/// The identity types a v3 request names at the top level of
/// `subject_identities`, with the type each stands for.
const TOP_LEVEL_IDENTITIES: &[(&str, IdentityType)] = &[
    ("controller_customer_id", IdentityType::CustomerId),
    ("email", IdentityType::Email),
    ("android_advertising_id", IdentityType::AndroidAaid),
    ("android_id", IdentityType::AndroidUuid),
    ("fire_advertising_id", IdentityType::FireAid),
    ("ios_advertising_id", IdentityType::IosIdfa),
    ("ios_vendor_id", IdentityType::IosIdfv),
    ("microsoft_advertising_id", IdentityType::MicrosoftAid),
    ("microsoft_publisher_id", IdentityType::MicrosoftPublisherId),
    ("roku_advertising_id", IdentityType::RokuAid),
    ("roku_publisher_id", IdentityType::RokuPublisherId),
    // mParticle's docs spell it both ways.
    ("roku_publishing_id", IdentityType::RokuPublisherId),
];

/// The identity types that only mParticle's extension carries (besides `mpid`).
const EXTENSION_IDENTITIES: &[(&str, IdentityType)] = &[
    ("other", IdentityType::Other),
    ("other2", IdentityType::Other2),
    ("other3", IdentityType::Other3),
    ("other4", IdentityType::Other4),
    ("other5", IdentityType::Other5),
    ("other6", IdentityType::Other6),
    ("other7", IdentityType::Other7),
    ("other8", IdentityType::Other8),
    ("other9", IdentityType::Other9),
    ("other10", IdentityType::Other10),
    ("mobile_number", IdentityType::MobileNumber),
    ("phone_number_2", IdentityType::PhoneNumber2),
    ("phone_number_3", IdentityType::PhoneNumber3),
];

/// The name of the MPID in the extension's `subject_identities`.
pub const MPID_IDENTITY: &str = "mpid";

/// The most identities one request may name.
pub const MAX_IDENTITIES: usize = 50;

/// The identity types of `subject_identities`, as discovery lists them.
pub fn supported_identities() -> impl Iterator<Item = &'static str> {
    TOP_LEVEL_IDENTITIES.iter().filter(|(name, _)| *name != "roku_publishing_id").map(|(name, _)| *name)
}

/// The type a top-level `subject_identities` key names.
pub fn top_level_identity(name: &str) -> Option<IdentityType> {
    TOP_LEVEL_IDENTITIES.iter().find(|(known, _)| *known == name).map(|(_, kind)| *kind)
}

/// The type an extension `subject_identities` key names (not `mpid`). The
/// extension may also repeat the top-level types.
pub fn extension_identity(name: &str) -> Option<IdentityType> {
    EXTENSION_IDENTITIES
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, kind)| *kind)
        .or_else(|| top_level_identity(name))
}

/// Operator settings that decide when a request is processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulePolicy {
    /// How long an erasure waits, cancellable, before it runs (mParticle: 7 days).
    pub erasure_waiting_period: Duration,
    /// The wait that replaces it when the request asks to skip it.
    pub skipped_waiting_period: Duration,
}

/// mParticle promises completion within this long after processing is due.
pub const PROCESSING_ALLOWANCE: Duration = Duration::from_secs(48 * 60 * 60);

/// When a request is due to be processed and when it is expected to complete,
/// in Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub process_after_ms: i64,
    pub expected_completion_ms: i64,
}

impl SchedulePolicy {
    pub fn schedule(&self, request_type: RequestType, skip_waiting_period: bool, received_ms: i64) -> Schedule {
        let wait = match request_type {
            RequestType::Erasure if skip_waiting_period => self.skipped_waiting_period,
            RequestType::Erasure => self.erasure_waiting_period,
            _ => Duration::ZERO,
        };
        let process_after_ms = received_ms.saturating_add(millis(wait));
        Schedule {
            process_after_ms,
            expected_completion_ms: process_after_ms.saturating_add(millis(PROCESSING_ALLOWANCE)),
        }
    }
}

/// How a step that failed is retried: exponential backoff within a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1`, after `attempt` attempts failed;
    /// `None` once the budget is spent.
    pub fn delay_after(&self, attempt: u32) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        Some(self.first_delay.saturating_mul(factor).min(self.max_delay))
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_reads_as_cancelled_on_the_wire_and_only_pending_cancels() {
        assert_eq!(RequestStatus::Failed.wire_name(), "cancelled");
        assert_eq!(RequestStatus::InProgress.wire_name(), "in_progress");
        for status in [RequestStatus::InProgress, RequestStatus::Completed, RequestStatus::Failed] {
            assert!(!status.can_cancel());
        }
        assert!(RequestStatus::Pending.can_cancel());
        assert!(RequestStatus::Failed.is_terminal() && !RequestStatus::InProgress.is_terminal());
    }

    #[test]
    fn identities_map_to_mparticle_types_by_place() {
        assert_eq!(top_level_identity("controller_customer_id"), Some(IdentityType::CustomerId));
        assert_eq!(top_level_identity("roku_publishing_id"), Some(IdentityType::RokuPublisherId));
        assert_eq!(top_level_identity("mobile_number"), None);
        assert_eq!(extension_identity("mobile_number"), Some(IdentityType::MobileNumber));
        assert_eq!(extension_identity("other10"), Some(IdentityType::Other10));
        assert_eq!(extension_identity("email"), Some(IdentityType::Email));
        assert_eq!(extension_identity("mpid"), None);
        assert_eq!(supported_identities().count(), 11);
    }

    #[test]
    fn only_erasures_wait_and_skipping_shortens_the_wait() {
        let policy = SchedulePolicy {
            erasure_waiting_period: Duration::from_secs(7 * 86_400),
            skipped_waiting_period: Duration::from_secs(3600),
        };
        let day = 86_400_000;
        assert_eq!(policy.schedule(RequestType::Erasure, false, 0).process_after_ms, 7 * day);
        assert_eq!(policy.schedule(RequestType::Erasure, true, 0).process_after_ms, 3_600_000);
        let access = policy.schedule(RequestType::Access, false, 5);
        assert_eq!(access.process_after_ms, 5);
        assert_eq!(access.expected_completion_ms, 5 + 2 * day);
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_and_stops_at_the_budget() {
        let policy =
            RetryPolicy { first_delay: Duration::from_secs(1), max_delay: Duration::from_secs(5), max_attempts: 5 };
        let delays: Vec<_> = (1..=5).map(|attempt| policy.delay_after(attempt)).collect();
        assert_eq!(
            delays,
            vec![
                Some(Duration::from_secs(1)),
                Some(Duration::from_secs(2)),
                Some(Duration::from_secs(4)),
                Some(Duration::from_secs(5)),
                None
            ]
        );
    }
}
