//! Status callbacks: each status change owes a signed POST of the status
//! object to every callback URL of the request, retried with exponential
//! backoff until a 2xx or until the give-up time.

use std::sync::Arc;
use std::time::Duration;

use custos_store::{CallbackDelivery, CallbackResult, StoreError};
use tokio::sync::watch;

use super::network::{CallbackPolicy, RefusedTarget};
use super::{millis, wire, DsrRuntime, DsrWorker};

/// Callbacks sent at once, at most.
const BATCH: i64 = 32;
const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(10 * 60);

/// The client callbacks are sent with: it connects only where `policy` allows, and follows no redirect.
pub(super) fn client(policy: &CallbackPolicy) -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(policy.resolver())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .user_agent(concat!("custos/", env!("CARGO_PKG_VERSION"), " (OpenDSR processor)"))
        .build()
        .expect("the callback HTTP client builds")
}

/// Sends callbacks as they fall due, until `stop` turns true.
pub(super) async fn run(worker: Arc<DsrWorker>, mut stop: watch::Receiver<bool>) {
    let dsr = &worker.runtime;
    while !*stop.borrow() {
        match worker.send_callbacks_once().await {
            Ok(0) => {}
            Ok(_) => continue,
            Err(error) => tracing::warn!(%error, "claiming status callbacks failed"),
        }
        tokio::select! {
            () = dsr.callbacks.notified() => {}
            () = tokio::time::sleep(dsr.config.poll_interval) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Sends the callbacks due, at once; returns how many.
pub(super) async fn send_due(dsr: &DsrRuntime, client: &reqwest::Client) -> Result<usize, StoreError> {
    let due = dsr.store.claim_callbacks(dsr.clock.now(), TIMEOUT * 3, BATCH).await?;
    let sends = due.iter().map(|delivery| deliver(dsr, client, delivery));
    futures_util::future::join_all(sends).await;
    Ok(due.len())
}

async fn deliver(dsr: &DsrRuntime, client: &reqwest::Client, delivery: &CallbackDelivery) {
    let result = attempt(dsr, client, delivery).await;
    let result = match result {
        Ok(http_status) => CallbackResult::Delivered { http_status },
        Err(Failure::Refused(error)) => CallbackResult::GaveUp { error },
        Err(Failure::Retry(error)) => {
            let exponent = u32::try_from(delivery.attempts.saturating_sub(1)).unwrap_or(u32::MAX).min(20);
            let backoff = Duration::from_secs(1).saturating_mul(2u32.saturating_pow(exponent)).min(MAX_BACKOFF);
            let next_attempt_ms = dsr.clock.now_ms() + millis(backoff);
            if next_attempt_ms > delivery.created_at_ms + millis(dsr.config.callback_give_up) {
                CallbackResult::GaveUp { error }
            } else {
                CallbackResult::Retry { next_attempt_ms, error }
            }
        }
    };
    if let Err(error) = dsr.store.finish_callback(delivery, &result, dsr.clock.now()).await {
        tracing::warn!(%error, "recording a callback attempt failed; it will be sent again");
    }
}

enum Failure {
    /// Will not succeed by retrying: the target is refused.
    Refused(String),
    Retry(String),
}

async fn attempt(dsr: &DsrRuntime, client: &reqwest::Client, delivery: &CallbackDelivery) -> Result<u16, Failure> {
    let url = dsr.callback_policy.check_url(&delivery.url).map_err(|e| Failure::Refused(e.to_string()))?;
    let request = dsr
        .store
        .subject_request(delivery.workspace_id, &delivery.request_id)
        .await
        .map_err(|e| Failure::Retry(e.to_string()))?
        .ok_or_else(|| Failure::Refused("the request no longer exists".into()))?;
    let mut status = wire::status_object(&request, delivery.status, &dsr.public_url);
    status["status_callback_url"] = delivery.url.clone().into();
    let body = serde_json::to_vec(&status).map_err(|e| Failure::Retry(e.to_string()))?;
    let signer = dsr.signer().await.map_err(|e| Failure::Retry(e.to_string()))?;
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-OpenDSR-Processor-Domain", &dsr.domain)
        .header("X-OpenDSR-Signature", signer.sign(&body))
        .body(body)
        .send()
        .await
        .map_err(|e| match RefusedTarget::is_behind(&e) {
            true => Failure::Refused(e.to_string()),
            false => Failure::Retry(e.to_string()),
        })?;
    let code = response.status().as_u16();
    if response.status().is_success() {
        Ok(code)
    } else {
        Err(Failure::Retry(format!("answered HTTP {code}")))
    }
}
