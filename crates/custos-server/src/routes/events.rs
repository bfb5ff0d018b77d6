//! The Events API v2 (`/v2/events`, `/v2/bulkevents`) and the Web SDK's
//! upload path (`/v3/JS/{key}/events`).
//!
//! A batch is validated whole before anything is stored; 202 is answered
//! only once the batch is committed (see `ingest`).

use std::num::NonZeroU32;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use custos_core::identity::Mpid;
use custos_core::ids::WorkspaceId;
use custos_store::{BatchBody, IncomingBatch, StoredInput};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::auth::{EventsInput, WebSdkInput, WithBody};
use crate::batch::{parse_batch, read_well_formed, ParsedBatch};
use crate::dsr::now_ms;
use crate::error::ApiError;
use crate::state::{retry_after_secs, AppState};

/// Largest request, as mParticle: bodies over it are refused with 413 before a handler runs.
const MAX_REQUEST_BYTES: usize = 256 * 1024;
/// Largest batch, as mParticle.
const MAX_BATCH_BYTES: usize = 128 * 1024;
/// Most batches in one bulk request, as mParticle.
const MAX_BULK_BATCHES: usize = 100;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/events", post(upload_batch))
        .route("/v2/bulkevents", post(upload_bulk))
        .route("/v3/JS/{key}/events", post(upload_web_batch))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
}

async fn upload_batch(
    State(state): State<AppState>,
    WithBody { access: EventsInput(input), body }: WithBody<EventsInput>,
) -> Result<StatusCode, ApiError> {
    store_single(&state, &input, &body).await
}

async fn upload_web_batch(
    State(state): State<AppState>,
    WithBody { access: WebSdkInput(input), body }: WithBody<WebSdkInput>,
) -> Result<StatusCode, ApiError> {
    store_single(&state, &input, &body).await
}

async fn store_single(state: &AppState, input: &StoredInput, body: &[u8]) -> Result<StatusCode, ApiError> {
    if body.len() > MAX_BATCH_BYTES {
        return Err(batch_too_large("batch"));
    }
    let text = std::str::from_utf8(body).map_err(|_| ApiError::invalid("body: must be UTF-8 JSON"))?;
    let parsed = match read_well_formed(text) {
        Some(parsed) => parsed,
        None => {
            let value: Value =
                serde_json::from_str(text).map_err(|e| ApiError::invalid(format!("body: invalid JSON: {e}")))?;
            parse_batch(&value, "batch").map_err(ApiError::Invalid)?
        }
    };
    throttle(state, input.workspace_id, 1)?;
    // The batch is kept as received: its bytes, not a re-serialization.
    store(state, vec![incoming(state, input, parsed, text)]).await
}

async fn upload_bulk(
    State(state): State<AppState>,
    WithBody { access: EventsInput(input), body }: WithBody<EventsInput>,
) -> Result<StatusCode, ApiError> {
    let raw: Vec<&RawValue> = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("body: must be a JSON array of batches: {e}")))?;
    if raw.len() > MAX_BULK_BATCHES {
        return Err(ApiError::invalid(format!(
            "body: a bulk request holds at most {MAX_BULK_BATCHES} batches, this one has {}",
            raw.len()
        )));
    }
    let mut problems = Vec::new();
    let mut batches = Vec::with_capacity(raw.len());
    for (index, raw) in raw.iter().enumerate() {
        let at = format!("[{index}]");
        if raw.get().len() > MAX_BATCH_BYTES {
            return Err(batch_too_large(&at));
        }
        let parsed = match read_well_formed(raw.get()) {
            Some(parsed) => Ok(parsed),
            None => {
                let value: Value =
                    serde_json::from_str(raw.get()).map_err(|e| ApiError::invalid(format!("{at}: {e}")))?;
                parse_batch(&value, &at)
            }
        };
        match parsed {
            Ok(parsed) => batches.push(incoming(&state, &input, parsed, raw.get())),
            Err(mut found) => problems.append(&mut found),
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::Invalid(problems));
    }
    if batches.is_empty() {
        return Ok(StatusCode::ACCEPTED);
    }
    throttle(&state, input.workspace_id, batches.len() as u32)?;
    store(&state, batches).await
}

/// Answers 202 once the batches are committed.
async fn store(state: &AppState, batches: Vec<IncomingBatch>) -> Result<StatusCode, ApiError> {
    state.ingestor.ingest(batches).await.map_err(|e| ApiError::Internal(Box::new(e)))?;
    Ok(StatusCode::ACCEPTED)
}

fn batch_too_large(at: &str) -> ApiError {
    ApiError::Invalid(vec![format!("{at}: a batch may be at most {MAX_BATCH_BYTES} bytes")])
}

/// The workspace's batch rate limit; `batches` cells at once.
fn throttle(state: &AppState, workspace_id: WorkspaceId, batches: u32) -> Result<(), ApiError> {
    let cells = NonZeroU32::new(batches).unwrap_or(NonZeroU32::MIN);
    let retry_after_secs = match state.events_limiter.check_key_n(&workspace_id, cells) {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(not_until)) => retry_after_secs(&not_until),
        // More batches in one request than the limit allows in a second.
        Err(_) => 1,
    };
    Err(ApiError::RateLimited { retry_after_secs, limit: "workspace" })
}

fn incoming(state: &AppState, input: &StoredInput, parsed: ParsedBatch, body: &str) -> IncomingBatch {
    IncomingBatch {
        suppression_keys: state.dsr.traces.of(&parsed.identities, parsed.mpid),
        workspace_id: input.workspace_id,
        input_id: input.id,
        source_request_id: parsed.source_request_id,
        mpid: parsed.mpid,
        new_mpid: Mpid(rand::random::<i64>()),
        identities: parsed.identities,
        attributes: parsed.attributes,
        deleted_attributes: parsed.deleted_attributes,
        consent: parsed.consent,
        opted_out: parsed.opted_out,
        event_count: parsed.event_count,
        body: BatchBody::compress(body),
        received_at_ms: now_ms(),
    }
}
