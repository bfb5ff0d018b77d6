//! The Data Subject Request API's auth: HTTP Basic with a workspace's key
//! and secret, within the workspace's rate limit.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use custos_store::StoredWorkspace;

use super::{basic_credentials, BasicCredentials};
use crate::error::ApiError;
use crate::secrets::{hash_secret, verify_secret};
use crate::state::{retry_after_secs, AppState};

fn unauthorized(message: &str) -> ApiError {
    ApiError::OpenDsr {
        status: StatusCode::UNAUTHORIZED,
        reason: "AuthenticationException",
        messages: vec![message.to_owned()],
        retry_after_secs: None,
    }
}

/// The workspace whose key and secret authenticate the request (401
/// otherwise), within its limit of requests per minute (429).
pub(crate) struct DsrWorkspace(pub(crate) StoredWorkspace);

impl FromRequestParts<AppState> for DsrWorkspace {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<DsrWorkspace, ApiError> {
        dsr_workspace(state, &parts.headers).await.map(DsrWorkspace)
    }
}

async fn dsr_workspace(state: &AppState, headers: &HeaderMap) -> Result<StoredWorkspace, ApiError> {
    let Some(Ok(BasicCredentials { key, secret })) = basic_credentials(headers) else {
        return Err(unauthorized("Authorization: HTTP Basic with the workspace's key and secret is required"));
    };
    let workspace = state.store.find_workspace_by_key(&key).await?;
    // Hash even for an unknown key, so timing does not tell which keys exist.
    let expected = workspace.as_ref().map_or_else(|| hash_secret(""), |w| w.secret_hash.clone());
    let valid = verify_secret(&secret, &expected);
    let workspace = workspace
        .filter(|_| valid)
        .ok_or_else(|| unauthorized("Authorization: unknown workspace key or wrong secret"))?;
    if let Err(not_until) = state.dsr.requests_limiter.check_key(&workspace.workspace_id) {
        return Err(rate_limited(retry_after_secs(&not_until), "requests per minute"));
    }
    Ok(workspace)
}

/// The DSR API's 429, `seconds` from now.
pub(crate) fn rate_limited(seconds: u64, limit: &str) -> ApiError {
    ApiError::OpenDsr {
        status: StatusCode::TOO_MANY_REQUESTS,
        reason: "RateLimitExceeded",
        messages: vec![format!("this workspace's limit of {limit} is reached: retry after {seconds} s")],
        retry_after_secs: Some(seconds.max(1)),
    }
}
