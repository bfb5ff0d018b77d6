//! The Data Subject Request API v3 (OpenDSR), at mParticle's paths under `/v3`.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use custos_core::dsr::{supported_identities, RequestStatus, RequestType};
use custos_store::{CancelOutcome, CreateOutcome, NewSubjectRequest, StoredWorkspace, SubjectRequest};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{rate_limited, DsrWorkspace, WithBody};
use crate::dsr::wire;
use crate::error::ApiError;
use crate::state::{retry_after_secs, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v3/requests", post(create).get(in_group))
        .route("/v3/requests/", post(create).get(in_group))
        .route("/v3/requests/{id}", get(status).delete(cancel))
        .route("/v3/requests/{id}/results", get(results))
        .route("/v3/discovery", get(discovery))
        .route("/v3/certificate.pem", get(certificate))
}

fn dsr_error(status: StatusCode, reason: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::OpenDsr { status, reason, messages: vec![message.into()], retry_after_secs: None }
}

fn not_found() -> ApiError {
    dsr_error(StatusCode::NOT_FOUND, "NotFoundException", "Subject request not found.")
}

/// A JSON answer signed with the processor's key.
async fn signed(state: &AppState, status: StatusCode, body: &Value) -> Result<Response, ApiError> {
    let bytes = serde_json::to_vec(body).map_err(|e| ApiError::Internal(Box::new(e)))?;
    let signature = state.dsr.signer().await?.sign(&bytes);
    Ok((
        status,
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::HeaderName::from_static("x-opendsr-processor-domain"), state.dsr.domain.clone()),
            (header::HeaderName::from_static("x-opendsr-signature"), signature),
        ],
        bytes,
    )
        .into_response())
}

async fn create(
    State(state): State<AppState>,
    WithBody { access: DsrWorkspace(workspace), body }: WithBody<DsrWorkspace>,
) -> Result<Response, ApiError> {
    let invalid = |messages: Vec<String>| ApiError::OpenDsr {
        status: StatusCode::BAD_REQUEST,
        reason: "ValidationException",
        messages,
        retry_after_secs: None,
    };
    let parsed = wire::parse_create(&body).map_err(invalid)?;
    let url_errors: Vec<String> = parsed
        .callback_urls
        .iter()
        .enumerate()
        .filter_map(|(i, url)| {
            state.dsr.callback_policy.check_url(url).err().map(|e| format!("status_callback_urls[{i}]: {e}"))
        })
        .collect();
    if !url_errors.is_empty() {
        return Err(invalid(url_errors));
    }
    if let Err(not_until) = state.dsr.new_requests_limiter.check_key(&workspace.workspace_id) {
        return Err(rate_limited(retry_after_secs(&not_until), "new requests per day"));
    }
    let received_at_ms = state.dsr.clock.now_ms();
    let traces = &state.dsr.traces;
    let new = NewSubjectRequest {
        workspace_id: workspace.workspace_id,
        subject_keys: traces.subject_keys(&parsed.subject),
        overlap_key: traces.overlap_key(parsed.request_type, &parsed.subject),
        schedule: state.dsr.config.schedule.schedule(parsed.request_type, parsed.skip_waiting_period, received_at_ms),
        request_id: parsed.request_id,
        regulation: parsed.regulation,
        request_type: parsed.request_type,
        subject: parsed.subject,
        group_id: parsed.group_id,
        api_version: wire::API_VERSION.to_owned(),
        submitted_at_ms: parsed.submitted_at_ms,
        received_at_ms,
        suppress: parsed.suppress,
        callback_urls: parsed.callback_urls,
    };
    let request = match state.store.create_subject_request(&new).await? {
        CreateOutcome::Created(request) => request,
        CreateOutcome::AlreadyExists => {
            return Err(dsr_error(
                StatusCode::BAD_REQUEST,
                "InvalidOperationException",
                "Subject request already exists.",
            ))
        }
        CreateOutcome::Overlaps => {
            return Err(dsr_error(
                StatusCode::CONFLICT,
                "ConflictException",
                "A request of this type for the same identities is already pending or in progress.",
            ))
        }
    };
    state.dsr.work.notify_one();
    state.dsr.callbacks.notify_one();
    let answer = json!({
        "expected_completion_time": wire::format_time(request.expected_completion_ms),
        "received_time": wire::format_time(request.received_at_ms),
        "encoded_request": STANDARD.encode(&body),
        "subject_request_id": request.request_id,
        "controller_id": request.workspace_id.0.to_string(),
    });
    signed(&state, StatusCode::CREATED, &answer).await
}

async fn find(state: &AppState, workspace: &StoredWorkspace, id: &str) -> Result<SubjectRequest, ApiError> {
    state.store.subject_request(workspace.workspace_id, id).await?.ok_or_else(not_found)
}

async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    DsrWorkspace(workspace): DsrWorkspace,
) -> Result<Response, ApiError> {
    let request = find(&state, &workspace, &id).await?;
    let body = wire::status_object(&request, request.status, &state.dsr.public_url);
    signed(&state, StatusCode::OK, &body).await
}

#[derive(Debug, Deserialize)]
struct GroupQuery {
    group_id: Option<String>,
}

async fn in_group(
    State(state): State<AppState>,
    Query(query): Query<GroupQuery>,
    DsrWorkspace(workspace): DsrWorkspace,
) -> Result<Response, ApiError> {
    let group_id = query
        .group_id
        .filter(|g| !g.is_empty())
        .ok_or_else(|| dsr_error(StatusCode::BAD_REQUEST, "ValidationException", "group_id: required"))?;
    let requests = state.store.subject_requests_in_group(workspace.workspace_id, &group_id).await?;
    let body: Vec<Value> = requests.iter().map(|r| wire::status_object(r, r.status, &state.dsr.public_url)).collect();
    signed(&state, StatusCode::OK, &Value::Array(body)).await
}

async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    DsrWorkspace(workspace): DsrWorkspace,
) -> Result<Response, ApiError> {
    match state.store.cancel_subject_request(workspace.workspace_id, &id, state.dsr.clock.now()).await? {
        CancelOutcome::Cancelled(request) => {
            state.dsr.callbacks.notify_one();
            let body = json!({
                "expected_completion_time": null,
                "received_time": wire::format_time(request.received_at_ms),
                "subject_request_id": request.request_id,
                "controller_id": request.workspace_id.0.to_string(),
                "request_status": RequestStatus::Cancelled.wire_name(),
            });
            signed(&state, StatusCode::ACCEPTED, &body).await
        }
        CancelOutcome::TooLate(request) => Err(dsr_error(
            StatusCode::CONFLICT,
            "InvalidOperationException",
            format!("the request is {}: only a pending request can be cancelled", request.status.wire_name()),
        )),
        CancelOutcome::NotFound => Err(not_found()),
    }
}

/// The export of a completed access or portability request, streamed from its stored chunks.
async fn results(
    State(state): State<AppState>,
    Path(id): Path<String>,
    DsrWorkspace(workspace): DsrWorkspace,
) -> Result<Response, ApiError> {
    let request = find(&state, &workspace, &id).await?;
    if !request.request_type.exports() || request.status != RequestStatus::Completed {
        return Err(dsr_error(StatusCode::NOT_FOUND, "NotFoundException", "This request has no results."));
    }
    let (Some(bytes), Some(expires_at_ms)) = (request.export_bytes, request.export_expires_ms) else {
        return Err(dsr_error(StatusCode::NOT_FOUND, "NotFoundException", "No records matched the subject."));
    };
    if expires_at_ms <= state.dsr.clock.now_ms() {
        return Err(dsr_error(StatusCode::GONE, "GoneException", "These results have expired or were erased."));
    }
    let store = state.store.clone();
    let ws = workspace.workspace_id;
    // The next chunk's number; `None` once an error has ended the stream.
    let chunks = futures_util::stream::unfold(Some(0i64), move |next| {
        let (store, id) = (store.clone(), id.clone());
        async move {
            let seq = next?;
            match store.export_chunk(ws, &id, seq).await {
                Ok(Some(chunk)) => Some((Ok::<_, std::io::Error>(Bytes::from(chunk)), Some(seq + 1))),
                Ok(None) => None,
                Err(error) => Some((Err(std::io::Error::other(error.to_string())), None)),
            }
        }
    });
    let filename = format!("attachment; filename=\"{}.zip\"", request.request_id);
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (header::CONTENT_LENGTH, bytes.to_string()),
            (header::CONTENT_DISPOSITION, filename),
        ],
        Body::from_stream(chunks),
    )
        .into_response())
}

async fn discovery(State(state): State<AppState>) -> Result<Response, ApiError> {
    let identities: Vec<Value> =
        supported_identities().map(|name| json!({ "identity_type": name, "identity_format": "raw" })).collect();
    let body = json!({
        "api_version": wire::API_VERSION,
        "supported_identities": identities,
        "supported_subject_request_types": RequestType::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        "processor_certificate": state.dsr.certificate_url(),
    });
    signed(&state, StatusCode::OK, &body).await
}

async fn certificate(State(state): State<AppState>) -> Result<Response, ApiError> {
    let pem = state.dsr.signer().await?.certificate_pem().to_owned();
    Ok(([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response())
}
