//! `/rm/v1` for people and what only some may see: who am I, users (invite,
//! change, remove, reset a password), API tokens, the audit log, and the
//! mail kept for sending by hand.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::auth::{Caller, ManageRequests, ManageUsers, ReadAudit, Require};
use super::fields::{read_body, required, text};
use super::AppState;
use crate::domain::role::Role;
use crate::domain::FieldError;
use crate::error::RmError;
use crate::views;

/// Who the caller is, and what their role grants.
pub(super) async fn me(caller: Caller) -> Json<Value> {
    let permissions: Vec<&str> = caller.role.permissions().iter().map(|p| p.as_str()).collect();
    Json(json!({ "actor": caller.actor.display(), "role": caller.role.as_str(), "permissions": permissions }))
}

fn role(body: &serde_json::Map<String, Value>, problems: &mut Vec<FieldError>) -> Option<Role> {
    let text = text(body, "role", "role", problems)?;
    Role::parse(&text).or_else(|| {
        problems.push(FieldError::new("role", "must be super_admin, connections_manager, request_manager or viewer"));
        None
    })
}

fn flag(body: &serde_json::Map<String, Value>, name: &str, problems: &mut Vec<FieldError>) -> Option<bool> {
    match body.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::Bool(value)) => Some(*value),
        Some(Value::String(value)) if value == "true" || value == "on" => Some(true),
        Some(Value::String(value)) if value == "false" || value == "off" => Some(false),
        Some(_) => {
            problems.push(FieldError::new(name, "must be true or false"));
            None
        }
    }
}

pub(super) async fn users(_: Require<ManageUsers>, State(state): State<AppState>) -> Result<Json<Value>, RmError> {
    let users = state.manager.users().await?;
    Ok(Json(json!({ "users": users.iter().map(views::user).collect::<Vec<_>>() })))
}

/// `POST /rm/v1/users` with `{"email", "role", "notify"}`: the one-time link that sets their password.
pub(super) async fn invite(
    caller: Require<ManageUsers>,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), RmError> {
    let (body, mut problems) = read_body(&headers, &body, &["email", "role", "notify"])?;
    let email = text(&body, "email", "email", &mut problems);
    let email = required(email, "email", &mut problems);
    let role = role(&body, &mut problems);
    let role = required(role, "role", &mut problems);
    let notify = flag(&body, "notify", &mut problems);
    let (Some(email), Some(role), true) = (email, role, problems.is_empty()) else {
        return Err(RmError::Invalid(problems));
    };
    let (user, link) = state.manager.invite_user(&email, role, notify, caller.actor()).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "email": user.email, "role": role.as_str(), "invite_url": link.url.as_str() })),
    ))
}

/// `PATCH /rm/v1/users/{email}` with `{"role"}` and/or `{"notify"}`.
pub(super) async fn update(
    caller: Require<ManageUsers>,
    State(state): State<AppState>,
    Path(email): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, RmError> {
    let (body, mut problems) = read_body(&headers, &body, &["role", "notify"])?;
    let role = role(&body, &mut problems);
    let notify = flag(&body, "notify", &mut problems);
    if !problems.is_empty() {
        return Err(RmError::Invalid(problems));
    }
    let user = state.manager.update_user(&email, role, notify, caller.actor()).await?;
    Ok(Json(views::user(&user)))
}

pub(super) async fn remove(
    caller: Require<ManageUsers>,
    State(state): State<AppState>,
    Path(email): Path<String>,
) -> Result<StatusCode, RmError> {
    state.manager.remove_user(&email, caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn reset_password(
    caller: Require<ManageUsers>,
    State(state): State<AppState>,
    Path(email): Path<String>,
) -> Result<Json<Value>, RmError> {
    let link = state.manager.reset_password(&email, caller.actor()).await?;
    Ok(Json(json!({ "email": email, "reset_url": link.url.as_str() })))
}

/// `POST /rm/v1/tokens` with `{"role", "name"}`: the token, shown once.
pub(super) async fn issue_token(
    caller: Require<ManageUsers>,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), RmError> {
    let (body, mut problems) = read_body(&headers, &body, &["role", "name"])?;
    let role = role(&body, &mut problems);
    let role = required(role, "role", &mut problems);
    let name = text(&body, "name", "name", &mut problems);
    let (Some(role), true) = (role, problems.is_empty()) else {
        return Err(RmError::Invalid(problems));
    };
    let name = name.unwrap_or_else(|| format!("{}-token", role.as_str()));
    let (token, issued) = state.manager.issue_api_token(role, &name, caller.actor()).await?;
    Ok((StatusCode::CREATED, Json(json!({ "api_token": token, "name": issued.name, "role": issued.role.as_str() }))))
}

/// `GET /rm/v1/audit?before=RFC3339&limit=N`: the audit log, newest first.
pub(super) async fn audit(
    _: Require<ReadAudit>,
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, RmError> {
    let before = match query.get("before") {
        Some(text) => Some(
            OffsetDateTime::parse(text, &Rfc3339)
                .map_err(|_| RmError::invalid("before", "must be an RFC 3339 time"))?,
        ),
        None => None,
    };
    let limit = match query.get("limit") {
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| RmError::invalid("limit", "must be an integer from 1 to 1000"))?,
        None => 100,
    };
    let entries = state.manager.audit_log(before, limit).await?;
    Ok(Json(json!({ "entries": entries.iter().map(views::activity).collect::<Vec<_>>() })))
}

/// `GET /rm/v1/outbox`: mail not sent yet, with its links; `smtp` says
/// whether it is being sent or waits for an operator to send it by hand.
pub(super) async fn outbox(_: Require<ManageRequests>, State(state): State<AppState>) -> Result<Json<Value>, RmError> {
    let messages = state.manager.unsent_mail(1000).await?;
    Ok(Json(json!({
        "smtp": state.manager.smtp_configured(),
        "messages": messages.iter().map(views::outbox_message).collect::<Vec<_>>(),
    })))
}

/// `POST /rm/v1/outbox/{id}/sent`: an operator sent it by hand.
pub(super) async fn mark_sent(
    caller: Require<ManageRequests>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, RmError> {
    let id: i64 = id.parse().map_err(|_| RmError::invalid("id", "must be a message's numeric id"))?;
    state.manager.mark_mail_sent(id, caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}
