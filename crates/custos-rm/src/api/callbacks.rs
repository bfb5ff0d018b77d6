//! `POST /rm/v1/callbacks/opendsr`: processors' status callbacks.
//!
//! The body is trusted only after its `X-OpenDSR-Signature` verifies with
//! the certificate a connected processor's discovery endpoint names, and
//! that certificate is trusted (chained to the system's roots for mParticle,
//! pinned for Custos); it is not even parsed before. A forged or unsigned callback gets 401 and
//! changes nothing. A verified one must come from the processor of the job
//! it names, and moves that job along as a poll would have.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use time::OffsetDateTime;

use super::AppState;
use crate::error::RmError;
use crate::manager::{target_of, trust_of};
use crate::processor::certificate::ProcessorCertificate;
use crate::processor::opendsr::parse_status;
use crate::processor::trust::{system_roots, verify_chain, Trust};
use crate::processor::Processors;
use crate::worker::callback_update;

pub(super) async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, RmError> {
    let signature = headers
        .get("x-opendsr-signature")
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| RmError::Unauthorized("X-OpenDSR-Signature is required".into()))?;
    let signer = verified_signer(&state, &body, signature).await?;
    let value: Value =
        serde_json::from_slice(&body).map_err(|_| RmError::invalid("body", "must be an OpenDSR status object"))?;
    let report = parse_status(&value).ok_or_else(|| {
        RmError::invalid(
            "request_status",
            "must be pending, in_progress, completed or cancelled, with a subject_request_id",
        )
    })?;
    let Some(item) = state.manager.store.work_item_by_processor_request(&report.subject_request_id).await? else {
        // Not one of ours (or long gone): acknowledged, so that it is not sent again.
        tracing::info!("callback for an unknown subject request acknowledged");
        return Ok(StatusCode::ACCEPTED);
    };
    if target_of(&item.connection.connection)?.endpoints().dsr != signer {
        return Err(RmError::Unauthorized("the callback is signed by another processor than the request's".into()));
    }
    let now = OffsetDateTime::now_utc();
    if let Some((expected, mut update)) = callback_update(&item, &report, &state.retry, now) {
        let subject = state.manager.open_subject(&item.subject_sealed)?;
        update.audit = subject.redact(&update.audit);
        let applied = state.manager.store.apply_unclaimed(item.job.id, expected, update, now).await?;
        tracing::info!(job = item.job.id, status = report.status.as_str(), applied, "callback received");
        state.wake.notify_one();
    }
    Ok(StatusCode::ACCEPTED)
}

/// The DSR base URL of the connected processor whose certificate verifies
/// the signature. A mismatch fetches certificates again (at most once a
/// minute per processor), in case one rotated.
/// A certificate is used only if it is trusted (`processor::trust`): a
/// chain to the system's roots for mParticle, the pinned one for Custos.
async fn verified_signer(state: &AppState, body: &[u8], signature: &str) -> Result<String, RmError> {
    let mut processors: Vec<(String, Trust)> = Vec::new();
    for connection in state.manager.store.list_connections().await? {
        let processor = (target_of(&connection)?.endpoints().dsr, trust_of(&connection)?);
        if !processors.contains(&processor) {
            processors.push(processor);
        }
    }
    let now = OffsetDateTime::now_utc();
    for stale_after in [None, Some(Processors::certificate_refresh_gap())] {
        for (dsr, trust) in &processors {
            match state.manager.processors.certificate(dsr, stale_after).await {
                Ok(certificate) => match trusted(&certificate, trust, now) {
                    Ok(()) if certificate.verify(body, signature, now).is_ok() => return Ok(dsr.clone()),
                    Ok(()) => {}
                    Err(cause) => {
                        tracing::warn!(%cause, "a processor's certificate is not trusted; re-check its connection")
                    }
                },
                Err(error) => tracing::warn!(cause = error.cause(), "a processor's certificate is unavailable"),
            }
        }
    }
    Err(RmError::Unauthorized("the signature does not verify with any connected processor's certificate".into()))
}

fn trusted(certificate: &ProcessorCertificate, trust: &Trust, now: OffsetDateTime) -> Result<(), String> {
    match trust {
        Trust::Chain { domain } => verify_chain(certificate.chain(), domain, system_roots(), now),
        Trust::Pinned(fingerprint) if fingerprint == certificate.fingerprint() => Ok(()),
        Trust::Pinned(fingerprint) => Err(format!(
            "the processor now serves certificate {}, not the pinned {fingerprint}",
            certificate.fingerprint()
        )),
        Trust::Unpinned => Ok(()),
    }
}
