//! Users of an organization and the role each holds.
//!
//! mParticle assigns roles in its UI; Custos gives the same operation an API
//! under the Custom Access Roles path, for the console and for automation.
//! A role id names the organization's custom role of that id if there is
//! one, else a standard role.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::put;
use axum::{Json, Router};
use custos_core::access::{standard, Permissions, Role, UserEmail};
use custos_store::{RoleKind, UserRole};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::roles::format_timestamp;
use crate::auth::{CustomRolesScope, OrgAccount};
use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/users", axum::routing::get(list_users))
        .route("/users/{email}", put(assign_role).delete(remove_user))
}

/// The path's parameter these handlers read; `OrgAccount` reads the others.
#[derive(Debug, Deserialize)]
struct UserPath {
    email: String,
}

#[derive(Debug, Deserialize)]
struct AssignRoleBody {
    role_id: Option<serde_json::Value>,
}

#[derive(Debug, Serialize)]
struct UserBody {
    email: String,
    role_id: String,
    role_name: String,
    /// `custom` or `standard`.
    role_type: &'static str,
    /// Every task the role allows, `x:*` expanded.
    permissions: Vec<&'static str>,
    created_on: String,
    last_modified_on: String,
}

#[derive(Debug, Serialize)]
struct UsersBody {
    users: Vec<UserBody>,
}

fn user_body(user: UserRole, custom_roles: &[Role]) -> UserBody {
    let (role_name, permissions) = match user.role_kind {
        RoleKind::Custom => custom_roles
            .iter()
            .find(|role| role.role_id == user.role_id)
            .map(|role| (role.name.clone(), Permissions::from_tasks(&role.tasks)))
            .unwrap_or_else(|| (user.role_id.clone(), Permissions::from_tasks(Vec::<String>::new()))),
        RoleKind::Standard => standard::find(&user.role_id)
            .map(|role| (role.name.to_owned(), role.permissions()))
            .unwrap_or_else(|| (user.role_id.clone(), Permissions::from_tasks(Vec::<String>::new()))),
    };
    UserBody {
        email: user.email,
        role_id: user.role_id,
        role_name,
        role_type: user.role_kind.as_str(),
        permissions: permissions.effective_tasks(),
        created_on: format_timestamp(user.created_at),
        last_modified_on: format_timestamp(user.updated_at),
    }
}

async fn list_users(
    State(state): State<AppState>,
    access: OrgAccount<CustomRolesScope>,
) -> Result<Json<UsersBody>, ApiError> {
    let roles = state.store.role_manifest(access.org_id).await?.roles;
    let users = state.store.list_users(access.org_id).await?;
    Ok(Json(UsersBody { users: users.into_iter().map(|user| user_body(user, &roles)).collect() }))
}

async fn assign_role(
    State(state): State<AppState>,
    access: OrgAccount<CustomRolesScope>,
    Path(UserPath { email }): Path<UserPath>,
    body: axum::body::Bytes,
) -> Result<Json<UserBody>, ApiError> {
    let email = UserEmail::parse(&email).map_err(|e| ApiError::invalid(e.to_string()))?;
    let body: AssignRoleBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::invalid(format!("Invalid JSON syntax: {e}")))?;
    let role_id = match body.role_id {
        Some(serde_json::Value::String(role_id)) if !role_id.trim().is_empty() => role_id,
        None | Some(serde_json::Value::Null) => return Err(ApiError::invalid("role_id: is required")),
        Some(_) => return Err(ApiError::invalid("role_id: must be a non-empty string")),
    };
    let user = state.store.assign_user_role(access.org_id, email.as_str(), &role_id, OffsetDateTime::now_utc()).await?;
    let custom_roles = match user.role_kind {
        RoleKind::Custom => state.store.find_custom_role(access.org_id, &role_id).await?.into_iter().collect(),
        RoleKind::Standard => Vec::new(),
    };
    Ok(Json(user_body(user, &custom_roles)))
}

async fn remove_user(
    State(state): State<AppState>,
    access: OrgAccount<CustomRolesScope>,
    Path(UserPath { email }): Path<UserPath>,
) -> Result<StatusCode, ApiError> {
    let email = UserEmail::parse(&email).map_err(|e| ApiError::invalid(e.to_string()))?;
    if state.store.remove_user(access.org_id, email.as_str()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("user: no user with this email in the organization".into()))
    }
}
