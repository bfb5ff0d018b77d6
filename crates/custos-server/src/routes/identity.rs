//! The Identity API v1 (IDSync): identify, search, login, logout, modify.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use custos_core::identity::{Identity, IdentityType, Mpid, RequestKind};
use custos_store::{IdentityChange, StoreError};
use serde_json::{json, Map, Value};

use crate::auth::IdentityInput;
use crate::batch::{mpid_from_json, InvalidMpid};
use crate::error::ApiError;
use crate::state::AppState;
use time::OffsetDateTime;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/identify", post(|s, i| resolve(s, i, RequestKind::Identify)))
        .route("/v1/search", post(|s, i| resolve(s, i, RequestKind::Search)))
        .route("/v1/login", post(|s, i| resolve(s, i, RequestKind::Login)))
        .route("/v1/logout", post(|s, i| resolve(s, i, RequestKind::Logout)))
        .route("/v1/{mpid}/modify", post(modify))
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::Identity { status: StatusCode::BAD_REQUEST, code: "VALIDATION_ERROR", message: message.into() }
}

fn parse_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(bad_request("body: must be a JSON object")),
        Err(e) => Err(bad_request(format!("body: invalid JSON: {e}"))),
    }
}

/// `known_identities`, in Identity API names (Events API names are understood too).
fn known_identities(body: &Map<String, Value>) -> Result<Vec<Identity>, ApiError> {
    let Some(Value::Object(known)) = body.get("known_identities") else {
        return Err(bad_request("known_identities: is required and must be an object"));
    };
    let mut identities = Vec::new();
    for (name, value) in known {
        let kind = IdentityType::parse(name).map_err(|e| bad_request(format!("known_identities.{name}: {e}")))?;
        match value {
            Value::Null => {}
            Value::String(value) if !value.trim().is_empty() => identities.push(Identity::new(kind, value.trim())),
            Value::String(_) => {}
            _ => return Err(bad_request(format!("known_identities.{name}: must be a string"))),
        }
    }
    Ok(identities)
}

fn parse_mpid(value: Option<&Value>, field: &str) -> Result<Option<Mpid>, ApiError> {
    match value {
        // The Web SDK sends no MPID as an empty string.
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        value => mpid_from_json(value).map_err(|InvalidMpid| bad_request(format!("{field}: must be a 64-bit integer"))),
    }
}

async fn resolve(
    State(state): State<AppState>,
    IdentityInput { input, body }: IdentityInput,
    kind: RequestKind,
) -> Result<Json<Value>, ApiError> {
    let request = parse_body(&body)?;
    let identities = known_identities(&request)?;
    if identities.is_empty() && kind != RequestKind::Logout {
        return Err(ApiError::Identity {
            status: StatusCode::BAD_REQUEST,
            code: "LOOKUP_ERROR",
            message: "known_identities: at least one identity is required".into(),
        });
    }
    let previous = parse_mpid(request.get("previous_mpid"), "previous_mpid")?;
    let not_found = || ApiError::Identity {
        status: StatusCode::NOT_FOUND,
        code: "NOT_FOUND_ERROR",
        message: "no profile matches these identities".into(),
    };
    // A suppressed (erased) subject is not rebuilt: nothing is stored, and
    // the SDK gets an MPID of its own that no profile holds.
    if state.store.suppressed(input.workspace_id, &state.dsr.traces.of(&identities, previous)).await? {
        if kind == RequestKind::Search {
            return Err(not_found());
        }
        return Ok(Json(json!({
            "context": request.get("context").cloned().unwrap_or(Value::Null),
            "mpid": rand::random::<i64>().to_string(),
            "matched_identities": {},
            "is_ephemeral": true,
            "is_logged_in": false,
        })));
    }
    let outcome = loop {
        let candidate = Mpid(rand::random());
        match state
            .store
            .identity_request(input.workspace_id, kind, &identities, previous, candidate, OffsetDateTime::now_utc())
            .await
        {
            // Two requests chose the same new MPID at once: draw another.
            Err(StoreError::Conflict(_)) => continue,
            other => break other?,
        }
    };
    let Some(mpid) = outcome.mpid else { return Err(not_found()) };
    let matched: Map<String, Value> = outcome
        .matched
        .iter()
        .map(|identity| (identity.kind.identity_api_name().to_owned(), Value::String(identity.value.clone())))
        .collect();
    Ok(Json(json!({
        "context": request.get("context").cloned().unwrap_or(Value::Null),
        "mpid": mpid.0.to_string(),
        "matched_identities": matched,
        "is_ephemeral": false,
        "is_logged_in": outcome.logged_in,
    })))
}

async fn modify(
    State(state): State<AppState>,
    Path(mpid): Path<String>,
    IdentityInput { input, body }: IdentityInput,
) -> Result<Json<Value>, ApiError> {
    let mpid = Mpid(mpid.parse().map_err(|_| bad_request("mpid: the path must hold a 64-bit integer"))?);
    let request = parse_body(&body)?;
    let Some(Value::Array(raw_changes)) = request.get("identity_changes") else {
        return Err(bad_request("identity_changes: is required and must be an array"));
    };
    let mut changes = Vec::new();
    for (index, change) in raw_changes.iter().enumerate() {
        let at = format!("identity_changes[{index}]");
        let text = |name: &str| -> Result<Option<String>, ApiError> {
            match change.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
                Some(_) => Err(bad_request(format!("{at}.{name}: must be a string or null"))),
            }
        };
        let type_name =
            text("identity_type")?.ok_or_else(|| bad_request(format!("{at}.identity_type: is required")))?;
        let kind = IdentityType::parse(&type_name).map_err(|e| bad_request(format!("{at}.identity_type: {e}")))?;
        let (old, new) = (text("old_value")?, text("new_value")?);
        // The Web SDK sends unchanged identities too.
        if old != new {
            changes.push(IdentityChange { kind, old, new });
        }
    }
    let added: Vec<Identity> =
        changes.iter().filter_map(|c| c.new.as_ref().map(|value| Identity::new(c.kind, value.clone()))).collect();
    if state.store.suppressed(input.workspace_id, &state.dsr.traces.of(&added, Some(mpid))).await? {
        return Ok(Json(json!({ "change_results": [] })));
    }
    match state.store.modify_identities(input.workspace_id, mpid, &changes, OffsetDateTime::now_utc()).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => {
            return Err(ApiError::Identity {
                status: StatusCode::NOT_FOUND,
                code: "NOT_FOUND_ERROR",
                message: format!("no profile {} in this workspace", mpid.0),
            })
        }
        Err(other) => return Err(other.into()),
    }
    let results: Vec<Value> = changes
        .iter()
        .map(|c| json!({ "identity_type": c.kind.identity_api_name(), "modified_mpid": mpid.0.to_string() }))
        .collect();
    Ok(Json(json!({ "change_results": results })))
}
