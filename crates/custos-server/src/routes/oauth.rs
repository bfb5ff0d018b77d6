//! `POST /oauth/token`: the OAuth 2.0 client-credentials grant, as mParticle's
//! SSO endpoint answers it.
//!
//! Client credentials come in the body (JSON, as mParticle documents, or
//! form-encoded, as OAuth libraries send) or in a Basic `Authorization`
//! header (RFC 6749 §2.3.1). Tokens are opaque and random; only their hash is
//! stored, so deleting a credential revokes its tokens at once.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;

use crate::auth::{basic_credentials, BasicCredentials};
use crate::config::MPARTICLE_AUDIENCE;
use crate::error::ApiError;
use crate::secrets::{hash_secret, new_secret, verify_secret};
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/oauth/token", post(issue_token))
}

#[derive(Debug, Default, Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    audience: Option<String>,
}

fn invalid_request(description: impl Into<String>) -> ApiError {
    ApiError::OAuth { status: StatusCode::BAD_REQUEST, error: "invalid_request", description: description.into() }
}

fn invalid_client() -> ApiError {
    ApiError::OAuth {
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_client",
        description: "client authentication failed: unknown client_id or wrong client_secret".into(),
    }
}

fn parse_request(headers: &HeaderMap, body: &[u8]) -> Result<TokenRequest, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut request: TokenRequest = if content_type.starts_with("application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes(body).map_err(|e| invalid_request(format!("malformed form-encoded body: {e}")))?
    } else {
        serde_json::from_slice(body).map_err(|e| invalid_request(format!("malformed JSON body: {e}")))?
    };
    if let Some(Ok(BasicCredentials { key, secret })) = basic_credentials(headers) {
        request.client_id.get_or_insert(key);
        request.client_secret.get_or_insert(secret);
    }
    Ok(request)
}

async fn issue_token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let request = parse_request(&headers, &body)?;
    let require = |value: Option<String>, name: &str| {
        value.filter(|v| !v.is_empty()).ok_or_else(|| invalid_request(format!("{name}: is required")))
    };
    let grant_type = require(request.grant_type, "grant_type")?;
    if grant_type != "client_credentials" {
        return Err(ApiError::OAuth {
            status: StatusCode::BAD_REQUEST,
            error: "unsupported_grant_type",
            description: format!("grant_type: only `client_credentials` is supported, not `{grant_type}`"),
        });
    }
    let audience = require(request.audience, "audience")?;
    if !state.config.accepts_audience(&audience) {
        return Err(invalid_request(format!("audience: `{audience}` is not served here; use `{MPARTICLE_AUDIENCE}`")));
    }
    let client_id = require(request.client_id, "client_id")?;
    let client_secret = require(request.client_secret, "client_secret")?;

    let stored = state.store.find_api_credential(&client_id).await?;
    // Hash and compare even for an unknown client, so timing does not tell
    // which client ids exist.
    let expected_hash = stored.as_ref().map_or_else(|| hash_secret(""), |s| s.secret_hash.clone());
    let secret_ok = verify_secret(&client_secret, &expected_hash);
    let credential = match stored {
        Some(stored) if secret_ok => stored.credential,
        _ => return Err(invalid_client()),
    };

    let now = OffsetDateTime::now_utc();
    let token = new_secret();
    let ttl = state.config.token_ttl;
    state.store.insert_access_token(&hash_secret(&token), credential.id, now + ttl).await?;
    state.store.delete_expired_access_tokens(now).await?;
    tracing::info!(credential_id = credential.id, org_id = %credential.org_id, "access token issued");
    let body = json!({ "access_token": token, "expires_in": ttl.as_secs(), "token_type": "Bearer" });
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}
