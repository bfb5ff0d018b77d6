//! The Custom Access Roles API: the task catalog and the role manifest.
//!
//! `PUT .../roles` replaces the organization's whole manifest: roles it omits
//! are deleted, a new `role_id` creates a role. The body is read as loose
//! JSON first so that a missing or mistyped field is reported by its path
//! (`roles[2].name`) rather than as a parse error.

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use custos_core::access::{tasks, validate_manifest, Role, RoleDraft, TaskDraft};
use custos_store::StoredManifest;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::auth::{CustomRolesScope, OrgAccount};
use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/tasks", get(list_tasks)).route("/roles", get(get_manifest).put(replace_manifest))
}

#[derive(Debug, Serialize)]
struct TaskBody {
    task_id: &'static str,
    display_name: &'static str,
    description: &'static str,
}

#[derive(Debug, Serialize)]
pub(super) struct RoleBody {
    description: String,
    name: String,
    role_id: String,
    tasks: Vec<TaskRef>,
}

#[derive(Debug, Serialize)]
struct TaskRef {
    task_id: String,
}

#[derive(Debug, Serialize)]
struct ManifestBody {
    roles: Vec<RoleBody>,
    last_modified_on: Option<String>,
    last_modified_by: Option<String>,
}

impl From<Role> for RoleBody {
    fn from(role: Role) -> RoleBody {
        RoleBody {
            description: role.description,
            name: role.name,
            role_id: role.role_id,
            tasks: role.tasks.into_iter().map(|task_id| TaskRef { task_id }).collect(),
        }
    }
}

impl From<StoredManifest> for ManifestBody {
    fn from(manifest: StoredManifest) -> ManifestBody {
        ManifestBody {
            roles: manifest.roles.into_iter().map(RoleBody::from).collect(),
            last_modified_on: manifest.modified_at.map(format_timestamp),
            last_modified_by: manifest.modified_by,
        }
    }
}

/// mParticle's timestamp format in this API: `2022-06-28 18:24:49`, UTC.
pub(super) fn format_timestamp(at: OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    at.to_offset(time::UtcOffset::UTC).format(&format).unwrap_or_default()
}

async fn list_tasks(_access: OrgAccount<CustomRolesScope>) -> Json<Vec<TaskBody>> {
    Json(
        tasks::CATALOG
            .iter()
            .map(|task| TaskBody { task_id: task.id, display_name: task.display_name, description: task.description })
            .collect(),
    )
}

async fn get_manifest(
    State(state): State<AppState>,
    access: OrgAccount<CustomRolesScope>,
) -> Result<Json<ManifestBody>, ApiError> {
    Ok(Json(state.store.role_manifest(access.org_id).await?.into()))
}

async fn replace_manifest(
    State(state): State<AppState>,
    access: OrgAccount<CustomRolesScope>,
    body: Bytes,
) -> Result<Json<ManifestBody>, ApiError> {
    let drafts = parse_manifest(&body)?;
    let manifest = validate_manifest(drafts).map_err(|violations| {
        let messages = violations.iter().map(ToString::to_string).collect();
        // A malformed role is the client's to fix first; a name clash alone is a conflict.
        if violations.iter().all(|v| v.is_conflict()) {
            ApiError::Conflict(messages)
        } else {
            ApiError::Invalid(messages)
        }
    })?;
    let grant = &access.grant.0;
    let modified_by = format!("{} (client {})", grant.credential_name, grant.credential_id);
    let stored =
        state.store.replace_role_manifest(access.org_id, &manifest, &modified_by, OffsetDateTime::now_utc()).await?;
    tracing::info!(org_id = %access.org_id, account_id = %access.account_id, roles = stored.roles.len(), "role manifest replaced");
    Ok(Json(stored.into()))
}

/// Reads `{"roles": [...]}` into drafts, naming every field of the wrong type.
fn parse_manifest(body: &[u8]) -> Result<Vec<RoleDraft>, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("Invalid JSON syntax in custom role manifest: {e}")))?;
    let Some(roles) = value.get("roles") else {
        return Err(ApiError::invalid("roles: is required and must be an array of roles"));
    };
    let Value::Array(roles) = roles else {
        return Err(ApiError::invalid("roles: must be an array of roles"));
    };
    let mut problems = Vec::new();
    let mut drafts = Vec::with_capacity(roles.len());
    for (index, role) in roles.iter().enumerate() {
        let Value::Object(role) = role else {
            problems.push(format!("roles[{index}]: must be an object"));
            continue;
        };
        let mut text = |field: &str| match role.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                problems.push(format!("roles[{index}].{field}: must be a string"));
                None
            }
        };
        let (role_id, name, description) = (text("role_id"), text("name"), text("description"));
        let tasks = match role.get("tasks") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(task_index, item)| match item.get("task_id") {
                        Some(Value::String(task_id)) => TaskDraft { task_id: Some(task_id.clone()) },
                        _ => {
                            problems.push(format!(
                                "roles[{index}].tasks[{task_index}]: must be an object with a string task_id"
                            ));
                            TaskDraft { task_id: None }
                        }
                    })
                    .collect(),
            ),
            Some(_) => {
                problems.push(format!("roles[{index}].tasks: must be an array of {{\"task_id\": ...}}"));
                None
            }
        };
        drafts.push(RoleDraft { role_id, name, description, tasks });
    }
    if problems.is_empty() {
        Ok(drafts)
    } else {
        Err(ApiError::Invalid(problems))
    }
}
