//! `/rm/v1/connections`: connect a platform (after testing it), list,
//! re-check (accepting a Custos platform's rotated certificate), remove.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;

use super::auth::{ManageConnections, ReadConnections, Require};
use super::fields::{no_unknown_fields, object, text};
use super::AppState;
use crate::domain::connection::ConnectionDraft;
use crate::error::RmError;
use crate::views;

const FIELDS: [&str; 8] =
    ["name", "type", "pod", "base_url", "workspace_key", "workspace_secret", "web_key", "web_secret"];

pub(super) async fn create(
    caller: Require<ManageConnections>,
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), RmError> {
    let body = object(&body)?;
    let mut problems = Vec::new();
    no_unknown_fields(&body, &FIELDS, "", &mut problems);
    let mut field = |name: &str| text(&body, name, name, &mut problems);
    let draft = ConnectionDraft {
        name: field("name"),
        kind: field("type"),
        pod: field("pod"),
        base_url: field("base_url"),
        workspace_key: field("workspace_key"),
        workspace_secret: field("workspace_secret"),
        web_key: field("web_key"),
        web_secret: field("web_secret"),
    };
    if !problems.is_empty() {
        return Err(RmError::Invalid(problems));
    }
    let connection = state.manager.connect(draft, caller.actor()).await?;
    tracing::info!(connection = connection.id, "connection created");
    Ok((StatusCode::CREATED, Json(views::connection(&connection))))
}

pub(super) async fn list(_: Require<ReadConnections>, State(state): State<AppState>) -> Result<Json<Value>, RmError> {
    let connections = state.manager.store.list_connections().await?;
    Ok(Json(serde_json::json!({ "connections": connections.iter().map(views::connection).collect::<Vec<_>>() })))
}

pub(super) async fn remove(
    caller: Require<ManageConnections>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, RmError> {
    let id: i64 = id.parse().map_err(|_| RmError::invalid("id", "must be a connection's numeric id"))?;
    state.manager.remove_connection(id, caller.actor()).await?;
    tracing::info!(connection = id, "connection removed");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /rm/v1/connections/{id}/recheck`: the connection test again; a
/// Custos platform's current certificate is pinned.
pub(super) async fn recheck(
    caller: Require<ManageConnections>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, RmError> {
    let id: i64 = id.parse().map_err(|_| RmError::invalid("id", "must be a connection's numeric id"))?;
    let (connection, previous) = state.manager.recheck_connection(id, caller.actor()).await?;
    let mut view = views::connection(&connection);
    view["certificate_rotated"] = serde_json::json!(previous.is_some() && previous != connection.certificate_sha256);
    view["previous_certificate_sha256"] = serde_json::json!(previous);
    Ok(Json(view))
}
