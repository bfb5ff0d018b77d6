//! The Profile API: `GET /userprofile/v1/{orgId}/{accountId}/{workspaceId}/{mpid}`.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use custos_core::identity::{IdentityType, Mpid};
use custos_core::ids::WorkspaceId;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::auth::{OrgAccount, ProfileScope};
use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/userprofile/v1/{org_id}/{account_id}/{workspace_id}/{mpid}", get(get_profile))
}

#[derive(Debug, Deserialize)]
struct ProfileQuery {
    fields: Option<String>,
}

const FIELDS: [&str; 5] =
    ["device_identities", "user_identities", "user_attributes", "audience_memberships", "attribution"];

/// The Profile API's names of device identity types, where they differ.
fn profile_api_name(kind: IdentityType) -> &'static str {
    match kind {
        IdentityType::AndroidUuid => "android_id",
        IdentityType::AndroidAaid => "google_advertising_id",
        IdentityType::IosIdfa => "ios_advertising_id",
        IdentityType::IosIdfv => "ios_vendor_id",
        other => other.as_str(),
    }
}

async fn get_profile(
    State(state): State<AppState>,
    access: OrgAccount<ProfileScope>,
    Path((_, _, workspace_id, mpid)): Path<(String, String, String, String)>,
    Query(query): Query<ProfileQuery>,
) -> Result<Json<Value>, ApiError> {
    let not_found = || ApiError::NotFound("no such profile".into());
    let workspace_id = WorkspaceId(workspace_id.parse().map_err(|_| not_found())?);
    let place = state.store.find_workspace(workspace_id).await?.ok_or_else(not_found)?;
    if place.org_id != access.org_id || place.account_id != access.account_id {
        return Err(not_found());
    }
    let mpid = Mpid(mpid.parse().map_err(|_| not_found())?);
    let profile = state.store.profile(workspace_id, mpid).await?.ok_or_else(not_found)?;

    let fields: Vec<&str> = match &query.fields {
        Some(list) => list.split(',').map(str::trim).filter(|f| !f.is_empty()).collect(),
        None => FIELDS.to_vec(),
    };
    if let Some(unknown) = fields.iter().find(|f| !FIELDS.contains(f)) {
        return Err(ApiError::invalid(format!("fields: unknown field `{unknown}`; allowed: {}", FIELDS.join(", "))));
    }
    let mut body = json!({
        "mpid": mpid.0,
        "created_timestamp_ms": profile.created_at_ms,
        "last_stored_timestamp_ms": profile.updated_at_ms,
        "is_opted_out": profile.opted_out,
        "limit_ad_tracking": null,
        "account_userattributes": null,
    });
    let identities = |device: bool| -> Vec<Value> {
        profile
            .identities
            .iter()
            .filter(|stored| stored.identity.kind.is_device() == device)
            .map(|stored| {
                json!({
                    "type": if device { profile_api_name(stored.identity.kind) } else { stored.identity.kind.as_str() },
                    "encoding": "none",
                    "value": stored.identity.value,
                    "created_timestamp_ms": stored.created_at_ms,
                })
            })
            .collect()
    };
    for field in fields {
        let value = match field {
            "device_identities" => Value::Array(identities(true)),
            "user_identities" => Value::Array(identities(false)),
            "user_attributes" => Value::Object(
                profile
                    .attributes
                    .iter()
                    .map(|(name, value)| (name.clone(), serde_json::from_str(value).unwrap_or(Value::Null)))
                    .collect(),
            ),
            _ => Value::Array(vec![]),
        };
        body[field] = value;
    }
    let mut consent = json!({ "gdpr": {}, "ccpa": {} });
    for record in &profile.consent {
        let state: Value = serde_json::from_str(&record.state_json).unwrap_or(Value::Object(Map::new()));
        consent[record.regulation.as_str()][record.purpose.as_str()] = state;
    }
    body["consent_state"] = consent;
    Ok(Json(body))
}
