//! A request's workflow: the human gates before and after its jobs run.
//!
//! ```text
//! received ─┬─ verify ──▶ verifying ──verified──┬─▶ awaiting_approval ──approve──▶ processing
//!           │               │  └─expired─▶ unverified      │  └─deny─▶ denied       │
//!           │               └─deny─▶ denied                 │                        │
//!           ├─ approval needed ─────────────────────────────┘                        │
//!           └───────────────────────────────────────────────────────────────────────▶│
//! processing ─jobs done─┬─▶ awaiting_delivery (access, subject has an email) ─downloaded or link expired─▶ completed
//!                       ├─▶ completed
//!                       ├─▶ failed (a job failed)
//!                       └─▶ cancelled (every job was cancelled: its connection was removed)
//! ```
//!
//! [`next`] is the whole machine: given a status, what the request is, and
//! an action, the next status or a [`Refused`] naming the status. Every
//! open status has a timer ([`RequestStatus::timer`]), so nothing waits
//! forever unseen. No I/O: the manager reads, asks, then writes the answer
//! with the status it read, so a concurrent change is never overwritten.

use super::job::JobStatus;
use super::request::RequestKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestStatus {
    /// Just taken in; it moves on in the same transaction.
    Received,
    /// Waiting for the subject to follow the emailed link.
    Verifying,
    /// Waiting for a Request Manager to approve or deny it.
    AwaitingApproval,
    /// Its jobs are running on the connections.
    Processing,
    /// An access request's package is ready; the subject has a download link.
    AwaitingDelivery,
    Completed,
    Denied,
    /// The subject did not follow the verification link in time.
    Unverified,
    /// Every job was cancelled (their connections were removed).
    Cancelled,
    Failed,
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 10] = [
        RequestStatus::Received,
        RequestStatus::Verifying,
        RequestStatus::AwaitingApproval,
        RequestStatus::Processing,
        RequestStatus::AwaitingDelivery,
        RequestStatus::Completed,
        RequestStatus::Denied,
        RequestStatus::Unverified,
        RequestStatus::Cancelled,
        RequestStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Received => "received",
            RequestStatus::Verifying => "verifying",
            RequestStatus::AwaitingApproval => "awaiting_approval",
            RequestStatus::Processing => "processing",
            RequestStatus::AwaitingDelivery => "awaiting_delivery",
            RequestStatus::Completed => "completed",
            RequestStatus::Denied => "denied",
            RequestStatus::Unverified => "unverified",
            RequestStatus::Cancelled => "cancelled",
            RequestStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<RequestStatus> {
        RequestStatus::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// Closed: nothing more happens to it (a completed access request's
    /// link may still be sent again).
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            RequestStatus::Completed
                | RequestStatus::Denied
                | RequestStatus::Unverified
                | RequestStatus::Cancelled
                | RequestStatus::Failed
        )
    }

    /// What ends this status if nobody acts.
    pub fn timer(self) -> Timer {
        match self {
            RequestStatus::Received => Timer::Immediate,
            RequestStatus::Verifying => Timer::VerificationExpiry,
            RequestStatus::AwaitingApproval | RequestStatus::Processing => Timer::Deadline,
            RequestStatus::AwaitingDelivery => Timer::DeliveryLinkExpiry,
            _ => Timer::None,
        }
    }
}

/// What watches a status, so that a request never waits unseen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Left in the transaction that entered it.
    Immediate,
    /// The verification link expires: the request becomes `unverified`.
    VerificationExpiry,
    /// The request's (extended) deadline: operators are told 5 days before, and when it passes.
    Deadline,
    /// The download link expires: the request is `completed` (the link can be sent again).
    DeliveryLinkExpiry,
    /// Closed.
    None,
}

/// What the machine needs to know of a request besides its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    pub kind: RequestKind,
    /// Its type is one `--require-approval` names.
    pub needs_approval: bool,
    /// The subject gave an email address: verification and delivery go there.
    pub has_email: bool,
}

/// How a request's jobs stand, taken together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobsOutcome {
    Running,
    /// Every job completed or found no data.
    Completed,
    /// Every job finished and one failed (or some were cancelled, not all).
    Failed,
    /// Every job was cancelled.
    Cancelled,
}

impl JobsOutcome {
    pub fn of(jobs: &[JobStatus]) -> JobsOutcome {
        if !jobs.iter().all(|job| job.is_finished()) {
            JobsOutcome::Running
        } else if jobs.iter().all(|job| matches!(job, JobStatus::Completed | JobStatus::NoData)) {
            JobsOutcome::Completed
        } else if jobs.iter().all(|job| *job == JobStatus::Cancelled) {
            JobsOutcome::Cancelled
        } else {
            JobsOutcome::Failed
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The request was taken in; `verify` if the subject must confirm it.
    Receive {
        verify: bool,
    },
    /// The subject confirmed through the emailed link.
    Verify,
    VerificationExpired,
    Approve,
    Deny,
    /// The jobs reported; only an outcome other than `Running` moves the request.
    JobsFinished(JobsOutcome),
    /// Send (or send again) the subject's download link.
    Deliver,
    /// The subject downloaded the package.
    Downloaded,
    /// The download link expired.
    DeliveryExpired,
    /// Extend the deadline (the limits are [`super::extension`]'s).
    Extend,
}

impl Action {
    /// As the 409 says it: "it cannot be approved".
    pub fn past_tense(self) -> &'static str {
        match self {
            Action::Receive { .. } => "received",
            Action::Verify => "verified",
            Action::VerificationExpired => "expired",
            Action::Approve => "approved",
            Action::Deny => "denied",
            Action::JobsFinished(_) => "finished",
            Action::Deliver => "delivered",
            Action::Downloaded => "downloaded",
            Action::DeliveryExpired => "closed for an expired link",
            Action::Extend => "extended",
        }
    }
}

/// An action the request's status (or type) does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the request is {}: it cannot be {}{}", .status.as_str(), .action.past_tense(), .why.map(|w| format!(" ({w})")).unwrap_or_default())]
pub struct Refused {
    pub status: RequestStatus,
    pub action: Action,
    pub why: Option<&'static str>,
}

/// The status after `action`, or why it is refused.
pub fn next(status: RequestStatus, facts: Facts, action: Action) -> Result<RequestStatus, Refused> {
    use RequestStatus::*;
    let refuse = |why: Option<&'static str>| Err(Refused { status, action, why });
    let after_verification = if facts.needs_approval { AwaitingApproval } else { Processing };
    let access = facts.kind == RequestKind::Access;
    match (status, action) {
        (Received, Action::Receive { verify: true }) if facts.has_email => Ok(Verifying),
        (Received, Action::Receive { verify: true }) => refuse(Some("verification needs the subject's email")),
        (Received, Action::Receive { verify: false }) => Ok(after_verification),
        (Verifying, Action::Verify) => Ok(after_verification),
        (Verifying, Action::VerificationExpired) => Ok(Unverified),
        (Verifying | AwaitingApproval, Action::Deny) => Ok(Denied),
        (AwaitingApproval, Action::Approve) => Ok(Processing),
        (Processing, Action::JobsFinished(outcome)) => match outcome {
            JobsOutcome::Running => refuse(Some("its jobs are still running")),
            JobsOutcome::Completed if access && facts.has_email => Ok(AwaitingDelivery),
            JobsOutcome::Completed => Ok(Completed),
            JobsOutcome::Failed => Ok(Failed),
            JobsOutcome::Cancelled => Ok(Cancelled),
        },
        (AwaitingDelivery | Completed, Action::Deliver) if !access => {
            refuse(Some("only access requests are delivered"))
        }
        (AwaitingDelivery | Completed, Action::Deliver) if !facts.has_email => {
            refuse(Some("the subject gave no email address"))
        }
        (AwaitingDelivery, Action::Deliver) => Ok(AwaitingDelivery),
        // A completed access request had a package: its link may be sent again.
        (Completed, Action::Deliver) => Ok(Completed),
        (AwaitingDelivery | Completed, Action::Downloaded) if access => Ok(Completed),
        (AwaitingDelivery, Action::DeliveryExpired) => Ok(Completed),
        (Verifying | AwaitingApproval | Processing | AwaitingDelivery, Action::Extend) => Ok(status),
        _ => refuse(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RequestStatus::*;

    const ACTIONS: [Action; 13] = [
        Action::Receive { verify: true },
        Action::Receive { verify: false },
        Action::Verify,
        Action::VerificationExpired,
        Action::Approve,
        Action::Deny,
        Action::JobsFinished(JobsOutcome::Running),
        Action::JobsFinished(JobsOutcome::Completed),
        Action::JobsFinished(JobsOutcome::Failed),
        Action::JobsFinished(JobsOutcome::Cancelled),
        Action::Deliver,
        Action::Downloaded,
        Action::DeliveryExpired,
    ];

    fn facts(kind: RequestKind, needs_approval: bool, has_email: bool) -> Facts {
        Facts { kind, needs_approval, has_email }
    }

    /// Every transition the machine allows, for an access request with an
    /// email that needs approval; everything else must be refused.
    #[test]
    fn every_allowed_transition_and_every_refusal() {
        let f = facts(RequestKind::Access, true, true);
        let allowed = [
            (Received, Action::Receive { verify: true }, Verifying),
            (Received, Action::Receive { verify: false }, AwaitingApproval),
            (Verifying, Action::Verify, AwaitingApproval),
            (Verifying, Action::VerificationExpired, Unverified),
            (Verifying, Action::Deny, Denied),
            (AwaitingApproval, Action::Approve, Processing),
            (AwaitingApproval, Action::Deny, Denied),
            (Processing, Action::JobsFinished(JobsOutcome::Completed), AwaitingDelivery),
            (Processing, Action::JobsFinished(JobsOutcome::Failed), Failed),
            (Processing, Action::JobsFinished(JobsOutcome::Cancelled), Cancelled),
            (AwaitingDelivery, Action::Deliver, AwaitingDelivery),
            (AwaitingDelivery, Action::Downloaded, Completed),
            (AwaitingDelivery, Action::DeliveryExpired, Completed),
            (Completed, Action::Deliver, Completed),
            (Completed, Action::Downloaded, Completed),
            (Verifying, Action::Extend, Verifying),
            (AwaitingApproval, Action::Extend, AwaitingApproval),
            (Processing, Action::Extend, Processing),
            (AwaitingDelivery, Action::Extend, AwaitingDelivery),
        ];
        let mut refused = 0;
        for status in RequestStatus::ALL {
            for action in ACTIONS.into_iter().chain([Action::Extend]) {
                let expected = allowed.iter().find(|(s, a, _)| *s == status && *a == action).map(|(_, _, to)| *to);
                match (next(status, f, action), expected) {
                    (Ok(to), Some(want)) => assert_eq!(to, want, "{status:?} {action:?}"),
                    (Err(refusal), None) => {
                        refused += 1;
                        assert_eq!((refusal.status, refusal.action), (status, action));
                        assert!(refusal.to_string().starts_with(&format!("the request is {}", status.as_str())));
                    }
                    (got, want) => panic!("{status:?} {action:?}: got {got:?}, expected {want:?}"),
                }
            }
        }
        assert_eq!(refused, 10 * 14 - allowed.len());
    }

    #[test]
    fn without_approval_verification_leads_to_processing() {
        let f = facts(RequestKind::Deletion, false, true);
        assert_eq!(next(Received, f, Action::Receive { verify: false }), Ok(Processing));
        assert_eq!(next(Verifying, f, Action::Verify), Ok(Processing));
        assert!(next(AwaitingApproval, f, Action::Deliver).is_err());
    }

    #[test]
    fn only_access_requests_with_an_email_are_delivered() {
        let done = Action::JobsFinished(JobsOutcome::Completed);
        assert_eq!(next(Processing, facts(RequestKind::Deletion, false, true), done), Ok(Completed));
        assert_eq!(next(Processing, facts(RequestKind::Access, false, false), done), Ok(Completed));
        let refusal = next(Completed, facts(RequestKind::Deletion, false, true), Action::Deliver).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "the request is completed: it cannot be delivered (only access requests are delivered)"
        );
        assert!(next(Completed, facts(RequestKind::Access, false, false), Action::Deliver).is_err());
        let refusal = next(Received, facts(RequestKind::Access, false, false), Action::Receive { verify: true });
        assert_eq!(refusal.unwrap_err().why, Some("verification needs the subject's email"));
    }

    #[test]
    fn every_open_status_has_a_timer_and_closed_ones_none() {
        for status in RequestStatus::ALL {
            assert_eq!(status.timer() == Timer::None, status.is_closed(), "{status:?}");
            assert_eq!(RequestStatus::parse(status.as_str()), Some(status));
        }
    }

    #[test]
    fn jobs_outcomes_follow_their_jobs() {
        use JobStatus::*;
        assert_eq!(JobsOutcome::of(&[Pending, Completed]), JobsOutcome::Running);
        assert_eq!(JobsOutcome::of(&[Completed, NoData]), JobsOutcome::Completed);
        assert_eq!(JobsOutcome::of(&[Completed, Failed]), JobsOutcome::Failed);
        assert_eq!(JobsOutcome::of(&[Cancelled, Completed]), JobsOutcome::Failed);
        assert_eq!(JobsOutcome::of(&[Cancelled, Cancelled]), JobsOutcome::Cancelled);
        assert_eq!(JobsOutcome::of(&[Failed, InProgress]), JobsOutcome::Running);
        assert_eq!(JobsOutcome::of(&[]), JobsOutcome::Completed);
    }
}
