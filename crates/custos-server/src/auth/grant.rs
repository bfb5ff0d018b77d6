//! The bearer-token extractor.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use custos_store::TokenGrant;
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::secrets::hash_secret;
use crate::state::AppState;

/// A request carrying a valid, unexpired access token.
#[derive(Debug, Clone)]
pub(crate) struct Grant(pub(crate) TokenGrant);

impl FromRequestParts<AppState> for Grant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Grant, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::Unauthorized("Authorization: a Bearer access token is required".into()))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| ApiError::Unauthorized("Authorization: expected `Bearer <access token>`".into()))?;
        let grant =
            state.store.find_access_token(&hash_secret(token), OffsetDateTime::now_utc()).await?.ok_or_else(|| {
                ApiError::Unauthorized("Authorization: the access token is invalid, expired or revoked".into())
            })?;
        Ok(Grant(grant))
    }
}
