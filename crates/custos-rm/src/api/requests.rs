//! `/rm/v1/requests`: create a request (fanned out to every connection),
//! list, show with each connection's status and the audit trail, fetch an
//! access request's package; approve (one or many), deny, extend, deliver;
//! the CSV report.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::auth::{CreateRequests, ManageRequests, ReadRequests, Require};
use super::fields::{no_unknown_fields, object, object_or_form, read_body, text};
use super::AppState;
use crate::domain::request::{Regulation, RequestDraft, RequestKind, RequestStatus};
use crate::domain::FieldError;
use crate::error::RmError;
use crate::store::RequestFilter;
use crate::views;

const MAX_PAGE: i64 = 1000;

pub(super) async fn create(
    caller: Require<CreateRequests>,
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), RmError> {
    let draft = read_draft(&body)?;
    let record = state.manager.create_request(draft, caller.actor()).await?;
    state.wake.notify_one();
    tracing::info!(request = %record.id, kind = record.kind.as_str(), "request created");
    let detail = state.manager.request_detail(&record.id).await?;
    Ok((StatusCode::CREATED, Json(views::request_detail(&detail, state.manager.now()))))
}

fn read_draft(body: &[u8]) -> Result<RequestDraft, RmError> {
    let body = object(body)?;
    let mut problems = Vec::new();
    no_unknown_fields(&body, &["type", "regulation", "subject", "received_at", "verify"], "", &mut problems);
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
    match body.get("verify") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(verify)) => draft.verify = Some(*verify),
        Some(_) => problems.push(FieldError::new("verify", "must be true or false")),
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
    _: Require<ReadRequests>,
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, RmError> {
    let mut problems = Vec::new();
    let mut filter = RequestFilter { limit: 100, ..RequestFilter::default() };
    for (name, value) in &query {
        match name.as_str() {
            "status" => match RequestStatus::parse(value) {
                Some(status) => filter.status = Some(status),
                None => problems.push(FieldError::new("status", format!("must be one of {}", status_names()))),
            },
            "type" => match RequestKind::parse(value) {
                Some(kind) => filter.kind = Some(kind),
                None => problems.push(FieldError::new("type", "must be access, deletion or opt_out")),
            },
            "regulation" => match Regulation::parse(value) {
                Some(regulation) => filter.regulation = Some(regulation),
                None => problems.push(FieldError::new("regulation", "must be gdpr or ccpa")),
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
            other => problems.push(FieldError::new(
                other,
                "is not a known parameter; expected status, type, regulation, overdue, limit or offset",
            )),
        }
    }
    if !problems.is_empty() {
        return Err(RmError::Invalid(problems));
    }
    let now = state.manager.now();
    let requests = state.manager.store.list_requests(&filter, now).await?;
    Ok(Json(json!({ "requests": requests.iter().map(|r| views::request(r, now)).collect::<Vec<_>>() })))
}

/// Every status's name, for messages.
fn status_names() -> String {
    RequestStatus::ALL.iter().map(|status| status.as_str()).collect::<Vec<_>>().join(", ")
}

pub(super) async fn show(
    _: Require<ReadRequests>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, RmError> {
    let detail = state.manager.request_detail(&id).await?;
    Ok(Json(views::request_detail(&detail, state.manager.now())))
}

pub(super) async fn results(
    caller: Require<ManageRequests>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, RmError> {
    let package = state.manager.results_package(&id, caller.actor()).await?;
    let disposition = format!(
        "attachment; filename=\"request-{}.zip\"",
        id.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "")
    );
    Ok(([(header::CONTENT_TYPE, "application/zip".to_owned()), (header::CONTENT_DISPOSITION, disposition)], package))
}

async fn answer(state: &AppState, record: &crate::store::RequestRecord) -> Result<Json<Value>, RmError> {
    let detail = state.manager.request_detail(&record.id).await?;
    Ok(Json(views::request_detail(&detail, state.manager.now())))
}

/// `POST /rm/v1/requests/{id}/approve` (no body).
pub(super) async fn approve(
    caller: Require<ManageRequests>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, RmError> {
    let record = state.manager.approve(&id, caller.actor()).await?;
    state.wake.notify_one();
    answer(&state, &record).await
}

/// `POST /rm/v1/requests/approve` with `{"ids": […]}`: each approved if it
/// can be; the answer says, per id, its status or why not.
pub(super) async fn approve_many(
    caller: Require<ManageRequests>,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, RmError> {
    let body = object_or_form(&headers, &body)?;
    let ids: Vec<String> = match body.get("ids") {
        Some(Value::Array(ids)) if ids.iter().all(Value::is_string) && ids.len() <= MAX_PAGE as usize => {
            ids.iter().filter_map(|id| id.as_str().map(str::to_owned)).collect()
        }
        Some(Value::String(id)) => vec![id.clone()],
        _ => return Err(RmError::invalid("ids", format!("must be a list of at most {MAX_PAGE} request ids"))),
    };
    let outcomes = state.manager.approve_many(&ids, caller.actor()).await;
    state.wake.notify_one();
    let results: Vec<Value> = outcomes
        .into_iter()
        .map(|(id, outcome)| match outcome {
            Ok(record) => json!({ "id": id, "status": record.status.as_str() }),
            Err(error) => {
                let message = error.to_string();
                let status = error.into_response().status().as_u16();
                json!({ "id": id, "error": { "status": status, "message": message } })
            }
        })
        .collect();
    Ok(Json(json!({ "results": results })))
}

/// `POST /rm/v1/requests/{id}/deny` with `{"reason"}`: 422 without one.
pub(super) async fn deny(
    caller: Require<ManageRequests>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, RmError> {
    let (body, mut problems) = read_body(&headers, &body, &["reason"])?;
    let reason = text(&body, "reason", "reason", &mut problems).unwrap_or_default();
    if !problems.is_empty() {
        return Err(RmError::Invalid(problems));
    }
    let record = state.manager.deny(&id, &reason, caller.actor()).await?;
    answer(&state, &record).await
}

/// `POST /rm/v1/requests/{id}/extend` with `{"reason", "days"}`: 422 past
/// the law's limit, 409 a second time.
pub(super) async fn extend(
    caller: Require<ManageRequests>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, RmError> {
    let (body, mut problems) = read_body(&headers, &body, &["reason", "days"])?;
    let reason = text(&body, "reason", "reason", &mut problems).unwrap_or_default();
    let days = match body.get("days") {
        Some(Value::Number(days)) => days.as_i64(),
        Some(Value::String(days)) => days.trim().parse().ok(),
        _ => None,
    };
    let Some(days) = days else {
        problems.push(FieldError::new("days", "is required: a whole number of days"));
        return Err(RmError::Invalid(problems));
    };
    if !problems.is_empty() {
        return Err(RmError::Invalid(problems));
    }
    let record = state.manager.extend(&id, days, &reason, caller.actor()).await?;
    answer(&state, &record).await
}

/// `POST /rm/v1/requests/{id}/deliver`: sends (again) the subject's download link.
pub(super) async fn deliver(
    caller: Require<ManageRequests>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, RmError> {
    let record = state.manager.deliver(&id, caller.actor()).await?;
    answer(&state, &record).await
}

fn date(query: &HashMap<String, String>, name: &str, problems: &mut Vec<FieldError>) -> Option<time::Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    match query.get(name).map(|text| time::Date::parse(text, &format)) {
        Some(Ok(date)) => Some(date),
        _ => {
            problems.push(FieldError::new(name, "is required: a date, YYYY-MM-DD"));
            None
        }
    }
}

/// `GET /rm/v1/requests.csv?from=YYYY-MM-DD&to=YYYY-MM-DD`: the requests
/// received in those days, no personal data.
pub(super) async fn csv(
    _: Require<ReadRequests>,
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, RmError> {
    let mut problems = Vec::new();
    let (from, to) = (date(&query, "from", &mut problems), date(&query, "to", &mut problems));
    let (Some(from), Some(to)) = (from, to) else { return Err(RmError::Invalid(problems)) };
    let report = state.manager.requests_csv(from, to).await?;
    let disposition = format!("attachment; filename=\"requests-{from}-{to}.csv\"");
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        report,
    ))
}
