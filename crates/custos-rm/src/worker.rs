//! The worker: runs every job to completion, one step at a time.
//!
//! All state is in the store. The worker claims due jobs (a lease, so that a
//! job is worked by one task), performs the job's current step against its
//! processor, asks [`domain::job::next`] what follows, and records that in
//! one transaction. A step due at once is performed by the same task, so
//! each job flows lookup → submit without queueing behind every other
//! job's lookup. After `kill -9` nothing is lost: a new worker releases the
//! dead one's claims and carries on from each job's recorded step, and a
//! submission is never duplicated because each job's `subject_request_id`
//! was fixed when the request was created.
//!
//! **Invariant:** one worker per store. Leases protect against a stuck task,
//! not against a second `custos rm serve` on the same database.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::domain::job::{self, Event, JobState, RetryPolicy, Step};
use crate::domain::request::Subject;
use crate::manager::RequestManager;
use crate::processor::opendsr::request_body;
use crate::processor::{CallError, Download, Processor, Submission};
use crate::store::{JobUpdate, WorkItem};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Where processors send status callbacks.
    pub callback_url: Option<String>,
    pub retry: RetryPolicy,
    /// Jobs worked at once. The pacers, not this, keep calls under the rate limits.
    pub concurrency: usize,
    /// How long a claim lasts without being renewed.
    pub lease: Duration,
}

impl WorkerConfig {
    pub fn new(callback_url: Option<String>, poll_interval: Duration) -> WorkerConfig {
        WorkerConfig {
            callback_url,
            retry: RetryPolicy {
                base: Duration::from_secs(1),
                max_backoff: Duration::from_secs(30 * 60),
                max_attempts: 20,
                poll_interval,
            },
            concurrency: 64,
            lease: Duration::from_secs(5 * 60),
        }
    }
}

/// How often the worker looks for due jobs when nothing wakes it.
const TICK: Duration = Duration::from_millis(500);
/// How long a stopping worker lets its tasks finish their step.
const DRAIN: Duration = Duration::from_secs(10);

pub struct Worker {
    manager: RequestManager,
    config: Arc<WorkerConfig>,
    wake: Arc<Notify>,
}

impl Worker {
    pub fn new(manager: RequestManager, config: WorkerConfig, wake: Arc<Notify>) -> Worker {
        Worker { manager, config: Arc::new(config), wake }
    }

    /// Runs until `stop` completes, then lets the steps in flight finish.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        match self.manager.store.release_claims().await {
            Ok(0) => {}
            Ok(released) => tracing::info!(released, "released the claims of a previous worker"),
            Err(error) => tracing::error!(%error, "releasing claims failed"),
        }
        tokio::pin!(stop);
        let mut tasks = JoinSet::new();
        loop {
            let free = self.config.concurrency.saturating_sub(tasks.len());
            if free > 0 {
                let now = OffsetDateTime::now_utc();
                match self.manager.store.claim_due_jobs(now, now + self.config.lease, free as i64).await {
                    Ok(ids) => {
                        for job_id in ids {
                            let (manager, config, wake) =
                                (self.manager.clone(), self.config.clone(), self.wake.clone());
                            tasks
                                .spawn(async move { work(&manager, &config, job_id).await.then(|| wake.notify_one()) });
                        }
                    }
                    Err(error) => tracing::error!(%error, "claiming due jobs failed"),
                }
            }
            tokio::select! {
                biased;
                () = &mut stop => break,
                Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Err(error) = joined {
                        tracing::error!(%error, "a job task failed");
                    }
                }
                () = self.wake.notified() => {}
                () = tokio::time::sleep(TICK) => {}
            }
        }
        let drained = tokio::time::timeout(DRAIN, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!("stopped with steps in flight; their jobs resume on the next start");
        }
    }
}

/// Works on a job while its steps are due at once. Returns whether anything
/// was recorded (so that the worker looks for due jobs again).
async fn work(manager: &RequestManager, config: &WorkerConfig, job_id: i64) -> bool {
    let mut recorded = false;
    loop {
        let item = match manager.store.work_item(job_id).await {
            Ok(Some(item)) if !item.job.state.status.is_finished() => item,
            Ok(_) => return recorded,
            Err(error) => {
                tracing::error!(job = job_id, %error, "reading a job failed");
                return recorded;
            }
        };
        match step(manager, config, &item).await {
            Ok(go_on) => {
                recorded = true;
                if !go_on {
                    return true;
                }
            }
            Err(error) => {
                // The claim lapses and the job is tried again after the lease.
                tracing::error!(job = job_id, %error, "recording a step failed");
                return recorded;
            }
        }
    }
}

/// What a step produced besides its event.
#[derive(Default)]
struct Findings {
    processor_status: Option<String>,
    results_url: Option<String>,
    mpids_sealed: Option<String>,
    results_sealed: Option<Vec<u8>>,
}

/// Performs the job's current step and records the outcome. Returns whether
/// the job's next step is due at once (and still claimed by this task).
async fn step(
    manager: &RequestManager,
    config: &WorkerConfig,
    item: &WorkItem,
) -> Result<bool, crate::store::StoreError> {
    let now = OffsetDateTime::now_utc();
    let state = item.job.state;
    let mut findings = Findings::default();
    let (event, subject) = if item.connection.removed {
        (Event::ConnectionRemoved, Subject::default())
    } else {
        match (manager.open_subject(&item.subject_sealed), manager.processor_for(&item.connection)) {
            (Ok(subject), Ok(processor)) => {
                let event = perform(manager, config, item, &subject, &processor, &mut findings).await;
                (event, subject)
            }
            (Err(error), _) | (_, Err(error)) => (Event::Rejected { cause: error.to_string() }, Subject::default()),
        }
    };
    let last_error = match &event {
        Event::Transient { cause, .. } | Event::Rejected { cause } => Some(subject.redact(cause)),
        _ => None,
    };
    let Some(transition) = job::next(item.kind, state, event.clone(), &config.retry) else {
        // Nothing this step can observe is out of place; record that and look again later.
        let update = JobUpdate::new(
            state,
            Some(now + config.retry.poll_interval),
            format!("ignored at {}: {event:?}", state.step.as_str()),
        );
        manager
            .store
            .record_step(item.job.id, JobUpdate { audit: subject.redact(&update.audit), ..update }, now)
            .await?;
        return Ok(false);
    };
    let go_on = transition.after == Some(Duration::ZERO) && !transition.state.status.is_finished();
    let update = JobUpdate {
        state: transition.state,
        next_attempt_at: transition.after.map(|after| now + with_jitter(after)),
        keep_claim_until: go_on.then(|| now + config.lease),
        processor_status: findings.processor_status,
        results_url: findings.results_url,
        mpids_sealed: findings.mpids_sealed,
        last_error,
        results_sealed: findings.results_sealed,
        audit: subject.redact(&transition.audit),
    };
    let written = manager.store.record_step(item.job.id, update, now).await?;
    tracing::info!(
        job = item.job.id,
        request = %item.job.request_id,
        step = state.step.as_str(),
        next = transition.state.step.as_str(),
        status = transition.state.status.as_str(),
        "job step recorded"
    );
    Ok(written && go_on)
}

/// Spreads retries and polls a little, so that jobs failing together do not retry together.
fn with_jitter(delay: Duration) -> Duration {
    if delay.is_zero() {
        return delay;
    }
    delay + delay.mul_f64(rand::thread_rng().gen_range(0.0..0.1))
}

/// The call a step makes, and what it observed.
async fn perform(
    manager: &RequestManager,
    config: &WorkerConfig,
    item: &WorkItem,
    subject: &Subject,
    processor: &Processor,
    findings: &mut Findings,
) -> Event {
    let outcome: Result<Event, CallError> = match item.job.state.step {
        Step::Lookup => processor.search(subject).await.map(|mpids| {
            if mpids.is_empty() {
                Event::NoProfile
            } else {
                findings.mpids_sealed = Some(manager.key.seal(&mpids.join(",")));
                Event::ProfileFound
            }
        }),
        Step::Submit => {
            let body = request_body(
                &item.job.processor_request_id,
                item.kind,
                item.regulation,
                subject,
                item.received_at,
                config.callback_url.as_deref(),
            );
            processor.submit(&body).await.map(|submission| match submission {
                Submission::Submitted => Event::Submitted,
                Submission::AlreadySubmitted => Event::AlreadySubmitted,
                Submission::Overlapping => Event::OverlappingRequest,
            })
        }
        Step::Waiting => processor.status(&item.job.processor_request_id).await.map(|report| {
            findings.processor_status = Some(report.status.as_str().to_owned());
            findings.results_url = report.results_url;
            Event::Status(report.status)
        }),
        Step::Download => match &item.results_url {
            None => Ok(Event::Rejected { cause: "the processor completed the request without a results_url".into() }),
            Some(url) => processor.download(url).await.map(|download| match download {
                Download::Results(bytes) => {
                    findings.results_sealed = Some(manager.key.seal_bytes(&bytes));
                    Event::ResultsDownloaded { bytes: bytes.len() }
                }
                Download::NothingMatched => Event::NoResults,
                Download::Expired => Event::ResultsExpired,
            }),
        },
        Step::OptOut => send_opt_outs(manager, item, processor).await,
        Step::Done => Ok(Event::Rejected { cause: "the job is done".into() }),
    };
    outcome.unwrap_or_else(CallError::into_event)
}

/// One consent batch per profile the lookup found. Each batch's
/// `source_request_id` is fixed by the job, so a retry is deduplicated.
async fn send_opt_outs(manager: &RequestManager, item: &WorkItem, processor: &Processor) -> Result<Event, CallError> {
    let mpids = item
        .mpids_sealed
        .as_deref()
        .and_then(|sealed| manager.key.open(sealed))
        .ok_or_else(|| CallError::Rejected { cause: "the lookup's profiles are missing".into() })?;
    for (index, mpid) in mpids.split(',').enumerate() {
        let source_request_id = format!("{}-{index}", item.job.processor_request_id);
        processor.send_opt_out(mpid, &source_request_id, item.received_at).await?;
    }
    Ok(Event::OptOutSent)
}

/// The update a verified status callback makes to a job in state `state`.
pub fn callback_update(
    item: &WorkItem,
    report: &crate::processor::opendsr::StatusReport,
    policy: &RetryPolicy,
    now: OffsetDateTime,
) -> Option<(JobState, JobUpdate)> {
    let state = item.job.state;
    let transition = job::next(item.kind, state, Event::Status(report.status.clone()), policy)?;
    let update = JobUpdate {
        state: transition.state,
        next_attempt_at: transition.after.map(|after| now + with_jitter(after)),
        keep_claim_until: None,
        processor_status: Some(report.status.as_str().to_owned()),
        results_url: report.results_url.clone(),
        mpids_sealed: None,
        last_error: None,
        results_sealed: None,
        audit: format!("callback: {}", transition.audit),
    };
    Some((state, update))
}
