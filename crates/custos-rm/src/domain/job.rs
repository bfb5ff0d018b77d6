//! One connection's share of a request (a *job*), and the steps it goes
//! through:
//!
//! ```text
//! lookup ──no profile──────────────────────────────▶ done (no_data)
//!   │ profile
//!   ├─ access, deletion ─▶ submit ─▶ waiting ─▶ download (access) ─▶ done (completed)
//!   │                                   └──────── completed (deletion) ─▶ done
//!   └─ opt_out ─▶ opt_out ─▶ done (completed)
//! ```
//!
//! [`next`] is the whole machine: given a job's state and what its step
//! observed, it says the next state, when to act again, and what to record.
//! Transient failures are retried with exponential backoff (at least as long
//! as a `Retry-After` asks) until [`RetryPolicy::max_attempts`].

use std::time::Duration;

use super::request::RequestKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Search the subject with the Identity API.
    Lookup,
    /// Submit the OpenDSR request (access or erasure).
    Submit,
    /// Follow the OpenDSR request: callbacks, and polling as the fallback.
    Waiting,
    /// Fetch an access request's results.
    Download,
    /// Send the subject's `data_sale_opt_out` consent through the Events API.
    OptOut,
    Done,
}

impl Step {
    pub const ALL: [Step; 6] = [Step::Lookup, Step::Submit, Step::Waiting, Step::Download, Step::OptOut, Step::Done];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Lookup => "lookup",
            Step::Submit => "submit",
            Step::Waiting => "waiting",
            Step::Download => "download",
            Step::OptOut => "opt_out",
            Step::Done => "done",
        }
    }

    pub fn parse(text: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|step| step.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    Pending,
    InProgress,
    Completed,
    /// The platform holds no profile for the subject: nothing to do there.
    NoData,
    Failed,
    /// The connection was removed before the job finished.
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Pending,
        JobStatus::InProgress,
        JobStatus::Completed,
        JobStatus::NoData,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::InProgress => "in_progress",
            JobStatus::Completed => "completed",
            JobStatus::NoData => "no_data",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|status| status.as_str() == text)
    }

    pub fn is_finished(self) -> bool {
        !matches!(self, JobStatus::Pending | JobStatus::InProgress)
    }
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobState {
    pub step: Step,
    pub status: JobStatus,
    /// Failed attempts at the current step.
    pub attempts: u32,
}

impl JobState {
    pub const NEW: JobState = JobState { step: Step::Lookup, status: JobStatus::Pending, attempts: 0 };
}

/// An OpenDSR request's status, as its processor reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessorStatus {
    Pending,
    InProgress,
    Completed,
    /// Cancelled, or failed (which Custos reports as cancelled, with a reason).
    Cancelled {
        reason: Option<String>,
    },
}

impl ProcessorStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            ProcessorStatus::Pending => "pending",
            ProcessorStatus::InProgress => "in_progress",
            ProcessorStatus::Completed => "completed",
            ProcessorStatus::Cancelled { .. } => "cancelled",
        }
    }
}

/// What a step observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    ProfileFound,
    NoProfile,
    Submitted,
    /// The processor already holds this subject request id: an earlier attempt got through.
    AlreadySubmitted,
    /// The processor holds another open request for the same subject and type.
    OverlappingRequest,
    Status(ProcessorStatus),
    ResultsDownloaded {
        bytes: usize,
    },
    /// The results URL answered 404: nothing matched.
    NoResults,
    /// The results URL answered 410: the results expired before they were fetched.
    ResultsExpired,
    OptOutSent,
    /// Worth another try: a timeout, a 5xx, a 429.
    Transient {
        cause: String,
        retry_after: Option<Duration>,
    },
    /// Will not succeed by retrying: refused credentials, an invalid request.
    Rejected {
        cause: String,
    },
    ConnectionRemoved,
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// The first backoff; each failed attempt doubles it.
    pub base: Duration,
    pub max_backoff: Duration,
    /// Failed attempts at one step before the job fails.
    pub max_attempts: u32,
    /// How long to wait for a callback before asking the processor.
    pub poll_interval: Duration,
}

impl RetryPolicy {
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(30));
        self.base.saturating_mul(factor).min(self.max_backoff)
    }
}

/// The outcome of an event: the new state, when to act next (`None`: never,
/// the job is done), and the audit line to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub state: JobState,
    pub after: Option<Duration>,
    pub audit: String,
}

fn go(step: Step, audit: impl Into<String>) -> Transition {
    Transition {
        state: JobState { step, status: JobStatus::InProgress, attempts: 0 },
        after: Some(Duration::ZERO),
        audit: audit.into(),
    }
}

fn finish(status: JobStatus, audit: impl Into<String>) -> Transition {
    Transition { state: JobState { step: Step::Done, status, attempts: 0 }, after: None, audit: audit.into() }
}

fn wait(after: Duration, audit: impl Into<String>) -> Transition {
    Transition {
        state: JobState { step: Step::Waiting, status: JobStatus::InProgress, attempts: 0 },
        after: Some(after),
        audit: audit.into(),
    }
}

/// The job's next state after `event`, observed at its current step; `None`
/// if the event does not apply there (a late callback, a finished job).
pub fn next(kind: RequestKind, state: JobState, event: Event, policy: &RetryPolicy) -> Option<Transition> {
    if state.status.is_finished() {
        return None;
    }
    Some(match (state.step, event) {
        (_, Event::ConnectionRemoved) => finish(JobStatus::Cancelled, "cancelled: the connection was removed"),
        (_, Event::Rejected { cause }) => {
            finish(JobStatus::Failed, format!("failed at {}: {cause}", state.step.as_str()))
        }
        (step, Event::Transient { cause, retry_after }) => {
            let attempts = state.attempts + 1;
            if attempts >= policy.max_attempts {
                return Some(finish(
                    JobStatus::Failed,
                    format!("failed at {}: gave up after {attempts} attempts; last: {cause}", step.as_str()),
                ));
            }
            let delay = policy.backoff(attempts).max(retry_after.unwrap_or_default());
            Transition {
                state: JobState { step, status: JobStatus::InProgress, attempts },
                after: Some(delay),
                audit: format!("{}: {cause}; attempt {attempts} failed, retrying in {}", step.as_str(), seconds(delay)),
            }
        }
        (Step::Lookup, Event::NoProfile) => finish(JobStatus::NoData, "lookup: no profile matches; no data here"),
        (Step::Lookup, Event::ProfileFound) => match kind {
            RequestKind::OptOut => go(Step::OptOut, "lookup: a profile matches"),
            RequestKind::Access | RequestKind::Deletion => go(Step::Submit, "lookup: a profile matches"),
        },
        (Step::Submit, Event::Submitted) => {
            wait(policy.poll_interval, format!("submitted the {} request", opendsr_type(kind)))
        }
        (Step::Submit, Event::AlreadySubmitted) => {
            wait(policy.poll_interval, "the processor already holds this request: an earlier attempt got through")
        }
        (Step::Submit, Event::OverlappingRequest) => Transition {
            state: JobState { step: Step::Submit, status: JobStatus::InProgress, attempts: state.attempts },
            after: Some(policy.poll_interval),
            audit: "submit: the processor has another open request for this subject; trying again later".into(),
        },
        (Step::Submit | Step::Waiting, Event::Status(status)) => match status {
            ProcessorStatus::Pending | ProcessorStatus::InProgress => {
                wait(policy.poll_interval, format!("processor status: {}", status.as_str()))
            }
            ProcessorStatus::Completed => match kind {
                RequestKind::Access => go(Step::Download, "processor status: completed"),
                _ => finish(JobStatus::Completed, "processor status: completed"),
            },
            ProcessorStatus::Cancelled { reason } => finish(
                JobStatus::Failed,
                match reason {
                    Some(reason) => format!("processor status: cancelled ({reason})"),
                    None => "processor status: cancelled".into(),
                },
            ),
        },
        (Step::Download, Event::ResultsDownloaded { bytes }) => {
            finish(JobStatus::Completed, format!("results downloaded ({bytes} bytes)"))
        }
        (Step::Download, Event::NoResults) => finish(JobStatus::NoData, "results: nothing matched the subject"),
        (Step::Download, Event::ResultsExpired) => {
            finish(JobStatus::Failed, "results expired (410) before they could be downloaded")
        }
        (Step::OptOut, Event::OptOutSent) => finish(JobStatus::Completed, "opt-out consent sent"),
        _ => return None,
    })
}

/// The OpenDSR `subject_request_type` a request kind submits.
pub fn opendsr_type(kind: RequestKind) -> &'static str {
    match kind {
        RequestKind::Access => "access",
        RequestKind::Deletion => "erasure",
        RequestKind::OptOut => "opt_out",
    }
}

fn seconds(delay: Duration) -> String {
    format!("{:.1}s", delay.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_attempts: 5,
            poll_interval: Duration::from_secs(600),
        }
    }

    fn run(kind: RequestKind, events: Vec<Event>) -> Vec<(Step, JobStatus)> {
        let mut state = JobState::NEW;
        let mut seen = Vec::new();
        for event in events {
            state = next(kind, state, event, &policy()).unwrap().state;
            seen.push((state.step, state.status));
        }
        seen
    }

    #[test]
    fn an_access_request_is_looked_up_submitted_followed_and_downloaded() {
        let steps = run(
            RequestKind::Access,
            vec![
                Event::ProfileFound,
                Event::Submitted,
                Event::Status(ProcessorStatus::InProgress),
                Event::Status(ProcessorStatus::Completed),
                Event::ResultsDownloaded { bytes: 10 },
            ],
        );
        use JobStatus::*;
        assert_eq!(
            steps,
            [
                (Step::Submit, InProgress),
                (Step::Waiting, InProgress),
                (Step::Waiting, InProgress),
                (Step::Download, InProgress),
                (Step::Done, Completed)
            ]
        );
    }

    #[test]
    fn a_deletion_completes_with_the_processor_and_an_opt_out_needs_no_processor_request() {
        let deletion = run(
            RequestKind::Deletion,
            vec![Event::ProfileFound, Event::AlreadySubmitted, Event::Status(ProcessorStatus::Completed)],
        );
        assert_eq!(deletion.last(), Some(&(Step::Done, JobStatus::Completed)));
        let opt_out = run(RequestKind::OptOut, vec![Event::ProfileFound, Event::OptOutSent]);
        assert_eq!(opt_out, [(Step::OptOut, JobStatus::InProgress), (Step::Done, JobStatus::Completed)]);
        assert_eq!(run(RequestKind::Deletion, vec![Event::NoProfile]), [(Step::Done, JobStatus::NoData)]);
    }

    #[test]
    fn a_status_can_arrive_before_the_submission_is_recorded() {
        // A callback may land between the processor's 201 and our record of it.
        let state = JobState { step: Step::Submit, status: JobStatus::InProgress, attempts: 0 };
        let t = next(RequestKind::Deletion, state, Event::Status(ProcessorStatus::Completed), &policy()).unwrap();
        assert_eq!(t.state.status, JobStatus::Completed);
    }

    #[test]
    fn transient_failures_back_off_honour_retry_after_and_finally_fail() {
        let transient = |retry_after| Event::Transient { cause: "HTTP 429".into(), retry_after };
        let mut state = JobState::NEW;
        let mut delays = Vec::new();
        for retry_after in [None, None, Some(Duration::from_secs(30)), None] {
            let t = next(RequestKind::Deletion, state, transient(retry_after), &policy()).unwrap();
            delays.push(t.after.unwrap().as_secs());
            state = t.state;
        }
        assert_eq!(delays, [1, 2, 30, 8]);
        assert_eq!(state.step, Step::Lookup);
        let t = next(RequestKind::Deletion, state, transient(None), &policy()).unwrap();
        assert_eq!((t.state.status, t.after), (JobStatus::Failed, None));
        assert!(t.audit.contains("gave up after 5 attempts"), "{}", t.audit);
        assert_eq!(policy().backoff(40), Duration::from_secs(60));
    }

    #[test]
    fn a_success_resets_the_attempts_and_waiting_polls_at_the_interval() {
        let state = JobState { step: Step::Submit, status: JobStatus::InProgress, attempts: 3 };
        let t = next(RequestKind::Deletion, state, Event::Submitted, &policy()).unwrap();
        assert_eq!(t.state.attempts, 0);
        assert_eq!(t.after, Some(Duration::from_secs(600)));
        assert_eq!(next(RequestKind::Deletion, t.state, Event::OverlappingRequest, &policy()), None);
        let overlapping = next(RequestKind::Deletion, state, Event::OverlappingRequest, &policy()).unwrap();
        assert_eq!((overlapping.state.step, overlapping.after), (Step::Submit, Some(Duration::from_secs(600))));
    }

    #[test]
    fn refusals_cancellations_and_removals_end_the_job() {
        let state = JobState { step: Step::Waiting, status: JobStatus::InProgress, attempts: 0 };
        let cancelled = ProcessorStatus::Cancelled { reason: Some("no identities".into()) };
        let step = |state, event| next(RequestKind::Access, state, event, &policy()).unwrap();
        let t = step(state, Event::Status(cancelled));
        assert_eq!(t.state.status, JobStatus::Failed);
        assert_eq!(t.audit, "processor status: cancelled (no identities)");
        assert_eq!(step(state, Event::Rejected { cause: "HTTP 401".into() }).state.status, JobStatus::Failed);
        let removed = step(state, Event::ConnectionRemoved);
        assert_eq!((removed.state.status, removed.after), (JobStatus::Cancelled, None));
        assert_eq!(next(RequestKind::Access, removed.state, Event::Submitted, &policy()), None);
        let expired = JobState { step: Step::Download, ..state };
        assert_eq!(step(expired, Event::ResultsExpired).state.status, JobStatus::Failed);
        assert_eq!(step(expired, Event::NoResults).state.status, JobStatus::NoData);
    }
}
