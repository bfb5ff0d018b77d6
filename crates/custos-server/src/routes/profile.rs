//! The Profile API: `GET /userprofile/v1/{orgId}/{accountId}/{workspaceId}/{mpid}`.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use custos_core::identity::Mpid;
use custos_core::ids::WorkspaceId;
use serde::Deserialize;
use serde_json::Value;

use crate::auth::{OrgAccount, ProfileScope};
use crate::error::ApiError;
use crate::profile_view::{self, CONSENT_FIELD, FIELDS};
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/userprofile/v1/{org_id}/{account_id}/{workspace_id}/{mpid}", get(get_profile))
}

/// The path's parameters this handler reads; `OrgAccount` reads the others.
#[derive(Debug, Deserialize)]
struct ProfilePath {
    workspace_id: String,
    mpid: String,
}

#[derive(Debug, Deserialize)]
struct ProfileQuery {
    fields: Option<String>,
}

async fn get_profile(
    State(state): State<AppState>,
    access: OrgAccount<ProfileScope>,
    Path(path): Path<ProfilePath>,
    Query(query): Query<ProfileQuery>,
) -> Result<Json<Value>, ApiError> {
    let not_found = || ApiError::NotFound("no such profile".into());
    let workspace_id = WorkspaceId(path.workspace_id.parse().map_err(|_| not_found())?);
    let place = state.store.find_workspace(workspace_id).await?.ok_or_else(not_found)?;
    if place.org_id != access.org_id || place.account_id != access.account_id {
        return Err(not_found());
    }
    let mpid = Mpid(path.mpid.parse().map_err(|_| not_found())?);
    let profile = state.store.profile(workspace_id, mpid).await?.ok_or_else(not_found)?;

    let fields: Vec<&str> = match &query.fields {
        Some(list) => list.split(',').map(str::trim).filter(|f| !f.is_empty()).collect(),
        None => FIELDS.to_vec(),
    };
    // The consent state is always in the answer; asking for it is allowed.
    let fields: Vec<&str> = fields.into_iter().filter(|f| *f != CONSENT_FIELD).collect();
    if let Some(unknown) = fields.iter().find(|f| !FIELDS.contains(f)) {
        return Err(ApiError::invalid(format!(
            "fields: unknown field `{unknown}`; allowed: {}, {CONSENT_FIELD}",
            FIELDS.join(", ")
        )));
    }
    let body = profile_view::render(&profile, &fields);
    Ok(Json(body))
}
