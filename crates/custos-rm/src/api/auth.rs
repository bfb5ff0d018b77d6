//! The admin bearer token, as an extractor: a handler that takes [`Admin`]
//! is reached only with a valid `Authorization: Bearer <api_token>`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::AppState;
use crate::error::RmError;

pub(crate) struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = RmError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Admin, RmError> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer "))) else {
            return Err(RmError::Unauthorized("Authorization: Bearer <api_token> is required".into()));
        };
        if state.manager.token_is_valid(token.trim()).await? {
            Ok(Admin)
        } else {
            Err(RmError::Unauthorized("Authorization: the API token is not valid".into()))
        }
    }
}
