//! The worker: takes due requests from the store and carries them out.

use std::sync::Arc;
use std::time::Duration;

use custos_core::dsr::{RequestType, Trace};
use custos_store::{ClaimedRequest, Phase, StoreError};
use tokio::sync::watch;
use tracing::Instrument;

use super::{export, DsrError, DsrRuntime, DsrWorker, WorkOutcome};

/// How often expired exports are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// A name for a worker's leases, unique to it.
pub(super) fn new_owner() -> String {
    format!("worker-{}", uuid::Uuid::new_v4().simple())
}

/// Runs requests as they fall due, until `stop` turns true.
pub(super) async fn run(worker: Arc<DsrWorker>, mut stop: watch::Receiver<bool>) {
    let dsr = &worker.runtime;
    let mut last_sweep = tokio::time::Instant::now() - SWEEP_EVERY;
    while !*stop.borrow() {
        if last_sweep.elapsed() >= SWEEP_EVERY {
            last_sweep = tokio::time::Instant::now();
            match dsr.store.expire_exports(dsr.clock.now()).await {
                Ok(0) => {}
                Ok(chunks) => tracing::info!(chunks, "deleted expired access exports"),
                Err(error) => tracing::warn!(%error, "sweeping expired exports failed"),
            }
        }
        match worker.run_once().await {
            Ok(WorkOutcome::Processed) => continue,
            Ok(WorkOutcome::Idle) => {}
            Err(error) => tracing::warn!(%error, "claiming a data subject request failed"),
        }
        tokio::select! {
            () = dsr.work.notified() => {}
            () = tokio::time::sleep(dsr.config.poll_interval) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Takes one due request and carries it out, waking the callback sender
/// for the status changes it makes.
pub(super) async fn run_once(dsr: &DsrRuntime, owner: &str) -> Result<WorkOutcome, StoreError> {
    let Some(job) = dsr.store.claim_subject_request(owner, dsr.clock.now(), dsr.config.lease).await? else {
        return Ok(WorkOutcome::Idle);
    };
    let request = &job.request;
    let span = tracing::info_span!(
        "dsr",
        request_id = %request.request_id,
        workspace_id = request.workspace_id.0,
        kind = request.request_type.as_str()
    );
    dsr.callbacks.notify_one();
    process(dsr, owner, job).instrument(span).await;
    dsr.callbacks.notify_one();
    Ok(WorkOutcome::Processed)
}

/// Runs one request while renewing its lease; a failure is retried with
/// backoff until the budget is spent, then the request fails with the reason.
async fn process(dsr: &DsrRuntime, owner: &str, job: ClaimedRequest) {
    let request = &job.request;
    let (ws, id) = (request.workspace_id, request.request_id.as_str());
    let policy = dsr.config.processing_retry;
    if request.attempts > i64::from(policy.max_attempts) {
        let reason = format!(
            "gave up after {} attempts; last error: {}",
            request.attempts - 1,
            request.last_error.as_deref().unwrap_or("none recorded")
        );
        let _ = dsr.store.fail_subject_request(ws, id, owner, &reason, dsr.clock.now()).await;
        tracing::warn!("data subject request failed: retry budget spent");
        return;
    }
    let lease = dsr.config.lease;
    let renew = async {
        loop {
            tokio::time::sleep(lease / 3).await;
            let until = dsr.clock.now() + lease;
            if !matches!(dsr.store.renew_subject_request_lease(ws, id, owner, until).await, Ok(true)) {
                return;
            }
        }
    };
    let outcome = tokio::select! {
        outcome = carry_out(dsr, owner, &job) => outcome,
        () = renew => Err(DsrError::LeaseLost),
    };
    let Err(error) = outcome else {
        tracing::info!("data subject request completed");
        return;
    };
    let message: String = error.to_string().chars().take(300).collect();
    let attempt = u32::try_from(request.attempts).unwrap_or(u32::MAX);
    let now = dsr.clock.now();
    let recorded = match policy.delay_after(attempt) {
        Some(delay) => {
            tracing::warn!(error = %message, attempt, "data subject request attempt failed; will retry");
            dsr.store.retry_subject_request(ws, id, owner, &message, now + delay, now).await
        }
        None => {
            tracing::warn!(error = %message, attempt, "data subject request failed");
            let reason = format!("gave up after {attempt} attempts; last error: {message}");
            dsr.store.fail_subject_request(ws, id, owner, &reason, now).await
        }
    };
    if let Err(error) = recorded {
        tracing::warn!(%error, "recording a failed attempt failed; the lease will expire and the request resume");
    }
}

async fn carry_out(dsr: &DsrRuntime, owner: &str, job: &ClaimedRequest) -> Result<(), DsrError> {
    let request = &job.request;
    let (ws, id) = (request.workspace_id, request.request_id.as_str());
    match request.request_type {
        RequestType::Erasure => {
            let profiles = match job.phase {
                Some(Phase::Erased) => request.matched_profiles.unwrap_or(0),
                None => {
                    let hasher = |trace: Trace<'_>| dsr.traces.hash(trace);
                    let report = dsr.store.erase_subject(ws, id, owner, &hasher, dsr.clock.now()).await?;
                    i64::try_from(report.profiles).unwrap_or(i64::MAX)
                }
            };
            dsr.store.purge_deleted_data().await?;
            if !dsr.store.complete_subject_request(ws, id, owner, profiles, None, dsr.clock.now()).await? {
                return Err(DsrError::LeaseLost);
            }
        }
        RequestType::Access | RequestType::Portability => export::run(dsr, owner, request).await?,
    }
    Ok(())
}
