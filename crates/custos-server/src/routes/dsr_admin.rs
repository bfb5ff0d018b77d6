//! Data subject request administration over OAuth (the `dsr` scope): an
//! organization's requests with their audit trails, for operators and the
//! console. Controllers use the OpenDSR API (`routes::dsr`) instead.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use custos_core::dsr::RequestStatus;
use custos_core::ids::WorkspaceId;
use serde::Deserialize;
use serde_json::Value;

use crate::auth::{DsrScope, OrgAccount};
use crate::dsr_report::request_json;
use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/workspaces/{workspace_id}/dsr/requests", get(list))
        .route("/workspaces/{workspace_id}/dsr/requests/{request_id}", get(show))
}

/// The path's parameters these handlers read; `OrgAccount` reads the others.
#[derive(Debug, Deserialize)]
struct WorkspacePath {
    workspace_id: String,
}

#[derive(Debug, Deserialize)]
struct RequestPath {
    workspace_id: String,
    request_id: String,
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
    limit: Option<i64>,
}

/// The workspace of the path, if it belongs to the grant's organization and account.
async fn workspace_of(state: &AppState, access: &OrgAccount<DsrScope>, id: &str) -> Result<WorkspaceId, ApiError> {
    let not_found = || ApiError::NotFound("no such workspace".into());
    let workspace_id = WorkspaceId(id.parse().map_err(|_| not_found())?);
    let place = state.store.find_workspace(workspace_id).await?.ok_or_else(not_found)?;
    if place.org_id != access.org_id || place.account_id != access.account_id {
        return Err(not_found());
    }
    Ok(workspace_id)
}

async fn list(
    State(state): State<AppState>,
    access: OrgAccount<DsrScope>,
    Path(path): Path<WorkspacePath>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let workspace_id = workspace_of(&state, &access, &path.workspace_id).await?;
    let status = match query.status.as_deref() {
        None => None,
        Some(name) => Some(RequestStatus::parse(name).ok_or_else(|| {
            ApiError::invalid(format!(
                "status: unknown status `{name}`; one of pending, in_progress, completed, cancelled, failed"
            ))
        })?),
    };
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit: must be between 1 and 1000"));
    }
    let requests = state.store.list_subject_requests(Some(workspace_id), status, limit).await?;
    Ok(Json(Value::Array(requests.iter().map(|r| request_json(r, None)).collect())))
}

async fn show(
    State(state): State<AppState>,
    access: OrgAccount<DsrScope>,
    Path(RequestPath { workspace_id, request_id }): Path<RequestPath>,
) -> Result<Json<Value>, ApiError> {
    let workspace_id = workspace_of(&state, &access, &workspace_id).await?;
    let request = state
        .store
        .subject_request(workspace_id, &request_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such data subject request".into()))?;
    let audit = state.store.subject_request_audit(workspace_id, &request_id).await?;
    Ok(Json(request_json(&request, Some(&audit))))
}
