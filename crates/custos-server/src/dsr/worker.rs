//! The worker: takes due requests from the store and carries them out.

use std::time::Duration;

use custos_core::dsr::{RequestType, Trace};
use custos_store::{ClaimedRequest, Phase};
use time::OffsetDateTime;
use tokio::sync::watch;
use tracing::Instrument;

use super::export;
use crate::state::AppState;

pub(super) type JobError = Box<dyn std::error::Error + Send + Sync>;

pub(super) const LEASE_LOST: &str = "the lease was lost to another worker";

/// How often expired exports are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

pub(super) async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let owner = format!("worker-{}", uuid::Uuid::new_v4().simple());
    let dsr = &state.dsr;
    let mut last_sweep = tokio::time::Instant::now() - SWEEP_EVERY;
    while !*stop.borrow() {
        if last_sweep.elapsed() >= SWEEP_EVERY {
            last_sweep = tokio::time::Instant::now();
            match state.store.expire_exports(OffsetDateTime::now_utc()).await {
                Ok(0) => {}
                Ok(chunks) => tracing::info!(chunks, "deleted expired access exports"),
                Err(error) => tracing::warn!(%error, "sweeping expired exports failed"),
            }
        }
        match state.store.claim_subject_request(&owner, OffsetDateTime::now_utc(), dsr.config.lease).await {
            Ok(Some(job)) => {
                let request = &job.request;
                let span = tracing::info_span!(
                    "dsr",
                    request_id = %request.request_id,
                    workspace_id = request.workspace_id.0,
                    kind = request.request_type.as_str()
                );
                dsr.callbacks.notify_one();
                process(&state, &owner, job).instrument(span).await;
                dsr.callbacks.notify_one();
                continue;
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "claiming a data subject request failed"),
        }
        tokio::select! {
            () = dsr.work.notified() => {}
            () = tokio::time::sleep(dsr.config.poll_interval) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Runs one request while renewing its lease; a failure is retried with
/// backoff until the budget is spent, then the request fails with the reason.
async fn process(state: &AppState, owner: &str, job: ClaimedRequest) {
    let request = &job.request;
    let (ws, id) = (request.workspace_id, request.request_id.as_str());
    let policy = state.dsr.config.processing_retry;
    if request.attempts > i64::from(policy.max_attempts) {
        let reason = format!(
            "gave up after {} attempts; last error: {}",
            request.attempts - 1,
            request.last_error.as_deref().unwrap_or("none recorded")
        );
        let _ = state.store.fail_subject_request(ws, id, owner, &reason, OffsetDateTime::now_utc()).await;
        tracing::warn!("data subject request failed: retry budget spent");
        return;
    }
    let lease = state.dsr.config.lease;
    let renew = async {
        loop {
            tokio::time::sleep(lease / 3).await;
            let until = OffsetDateTime::now_utc() + lease;
            if !matches!(state.store.renew_subject_request_lease(ws, id, owner, until).await, Ok(true)) {
                return;
            }
        }
    };
    let outcome = tokio::select! {
        outcome = carry_out(state, owner, &job) => outcome,
        () = renew => Err(LEASE_LOST.into()),
    };
    let Err(error) = outcome else {
        tracing::info!("data subject request completed");
        return;
    };
    let message: String = error.to_string().chars().take(300).collect();
    let attempt = u32::try_from(request.attempts).unwrap_or(u32::MAX);
    let now = OffsetDateTime::now_utc();
    let recorded = match policy.delay_after(attempt) {
        Some(delay) => {
            tracing::warn!(error = %message, attempt, "data subject request attempt failed; will retry");
            state.store.retry_subject_request(ws, id, owner, &message, now + delay, now).await
        }
        None => {
            tracing::warn!(error = %message, attempt, "data subject request failed");
            let reason = format!("gave up after {attempt} attempts; last error: {message}");
            state.store.fail_subject_request(ws, id, owner, &reason, now).await
        }
    };
    if let Err(error) = recorded {
        tracing::warn!(%error, "recording a failed attempt failed; the lease will expire and the request resume");
    }
}

async fn carry_out(state: &AppState, owner: &str, job: &ClaimedRequest) -> Result<(), JobError> {
    let request = &job.request;
    let (ws, id) = (request.workspace_id, request.request_id.as_str());
    match request.request_type {
        RequestType::Erasure => {
            let profiles = match job.phase {
                Some(Phase::Erased) => request.matched_profiles.unwrap_or(0),
                None => {
                    let traces = &state.dsr.traces;
                    let hasher = |trace: Trace<'_>| traces.hash(trace);
                    let report = state.store.erase_subject(ws, id, owner, &hasher, OffsetDateTime::now_utc()).await?;
                    i64::try_from(report.profiles).unwrap_or(i64::MAX)
                }
            };
            state.store.purge_deleted_data().await?;
            if !state.store.complete_subject_request(ws, id, owner, profiles, None, OffsetDateTime::now_utc()).await? {
                return Err(LEASE_LOST.into());
            }
        }
        RequestType::Access | RequestType::Portability => export::run(state, owner, request).await?,
    }
    Ok(())
}
