//! `/rm/v1/requests`: create a request (fanned out to every connection),
//! list, show with each connection's status and the audit trail, and fetch
//! a completed access request's package.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::auth::Admin;
use super::fields::{no_unknown_fields, object, text};
use super::AppState;
use crate::domain::request::{RequestDraft, RequestStatus};
use crate::domain::FieldError;
use crate::error::RmError;
use crate::store::RequestFilter;
use crate::views;

const MAX_PAGE: i64 = 1000;

pub(super) async fn create(
    _: Admin,
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), RmError> {
    let draft = read_draft(&body)?;
    let record = state.manager.create_request(draft).await?;
    state.wake.notify_one();
    tracing::info!(request = %record.id, kind = record.kind.as_str(), "request created");
    let detail = state.manager.request_detail(&record.id).await?;
    Ok((StatusCode::CREATED, Json(views::request_detail(&detail, OffsetDateTime::now_utc()))))
}

fn read_draft(body: &[u8]) -> Result<RequestDraft, RmError> {
    let body = object(body)?;
    let mut problems = Vec::new();
    no_unknown_fields(&body, &["type", "regulation", "subject", "received_at"], "", &mut problems);
    let mut draft = RequestDraft {
        kind: text(&body, "type", "type", &mut problems),
        regulation: text(&body, "regulation", "regulation", &mut problems),
        ..RequestDraft::default()
    };
    match body.get("subject") {
        None | Some(Value::Null) => {}
        Some(Value::Object(subject)) => {
            no_unknown_fields(subject, &["email", "customer_id", "phone"], "subject.", &mut problems);
            draft.email = text(subject, "email", "subject.email", &mut problems);
            draft.customer_id = text(subject, "customer_id", "subject.customer_id", &mut problems);
            draft.phone = text(subject, "phone", "subject.phone", &mut problems);
        }
        Some(_) => {
            problems.push(FieldError::new("subject", "must be an object: {\"email\", \"customer_id\", \"phone\"}"))
        }
    }
    if let Some(received_at) = text(&body, "received_at", "received_at", &mut problems) {
        match OffsetDateTime::parse(&received_at, &Rfc3339) {
            Ok(at) => draft.received_at = Some(at),
            Err(_) => problems.push(FieldError::new("received_at", "must be an RFC 3339 timestamp")),
        }
    }
    if problems.is_empty() {
        Ok(draft)
    } else {
        Err(RmError::Invalid(problems))
    }
}

pub(super) async fn list(
    _: Admin,
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, RmError> {
    let mut problems = Vec::new();
    let mut filter = RequestFilter { limit: 100, ..RequestFilter::default() };
    for (name, value) in &query {
        match name.as_str() {
            "status" => match RequestStatus::parse(value) {
                Some(status) => filter.status = Some(status),
                None => problems.push(FieldError::new("status", "must be pending, in_progress, completed or failed")),
            },
            "overdue" => match value.as_str() {
                "true" => filter.overdue = Some(true),
                "false" => filter.overdue = Some(false),
                _ => problems.push(FieldError::new("overdue", "must be true or false")),
            },
            "limit" => match value.parse::<i64>() {
                Ok(limit) if (1..=MAX_PAGE).contains(&limit) => filter.limit = limit,
                _ => problems.push(FieldError::new("limit", format!("must be an integer from 1 to {MAX_PAGE}"))),
            },
            "offset" => match value.parse::<i64>() {
                Ok(offset) if offset >= 0 => filter.offset = offset,
                _ => problems.push(FieldError::new("offset", "must be a non-negative integer")),
            },
            other => problems
                .push(FieldError::new(other, "is not a known parameter; expected status, overdue, limit or offset")),
        }
    }
    if !problems.is_empty() {
        return Err(RmError::Invalid(problems));
    }
    let now = OffsetDateTime::now_utc();
    let requests = state.manager.store.list_requests(&filter, now).await?;
    Ok(Json(json!({ "requests": requests.iter().map(|r| views::request(r, now)).collect::<Vec<_>>() })))
}

pub(super) async fn show(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, RmError> {
    let detail = state.manager.request_detail(&id).await?;
    Ok(Json(views::request_detail(&detail, OffsetDateTime::now_utc())))
}

pub(super) async fn results(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, RmError> {
    let package = state.manager.results_package(&id).await?;
    let disposition = format!(
        "attachment; filename=\"request-{}.zip\"",
        id.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "")
    );
    Ok(([(header::CONTENT_TYPE, "application/zip".to_owned()), (header::CONTENT_DISPOSITION, disposition)], package))
}
