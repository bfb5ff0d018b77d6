//! The one place where an [`RmError`] becomes a response:
//! `{"errors": [{"code", "message", …}]}`, as the platform's APIs answer.
//! Server errors are logged here, once, and answered without detail.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::error::RmError;

impl IntoResponse for RmError {
    fn into_response(self) -> Response {
        let simple = |code: &str, message: String| vec![json!({ "code": code, "message": message })];
        let (status, errors): (StatusCode, Vec<Value>) = match self {
            RmError::Invalid(problems) => (
                StatusCode::BAD_REQUEST,
                problems
                    .iter()
                    .map(|p| json!({ "code": "invalid", "field": p.field, "message": p.to_string() }))
                    .collect(),
            ),
            RmError::Unauthorized(message) => (StatusCode::UNAUTHORIZED, simple("unauthorized", message)),
            RmError::Forbidden { permission, message } => (
                StatusCode::FORBIDDEN,
                vec![json!({ "code": "forbidden", "permission": permission, "message": message })],
            ),
            RmError::NotFound(message) => (StatusCode::NOT_FOUND, simple("not_found", message)),
            RmError::Conflict(message) => (StatusCode::CONFLICT, simple("conflict", message)),
            RmError::ConnectionTest(failures) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                failures
                    .iter()
                    .map(|f| {
                        json!({
                            "code": "connection_test_failed",
                            "credential": f.credential,
                            "api": f.api.short_name(),
                            "api_name": f.api.name(),
                            "status": f.status,
                            "message": f.message,
                            "remedy": f.remedy,
                        })
                    })
                    .collect(),
            ),
            RmError::Unprocessable(message) => (StatusCode::UNPROCESSABLE_ENTITY, simple("unprocessable", message)),
            RmError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, simple("internal", "internal error".into()))
            }
        };
        let mut response = (status, Json(json!({ "errors": errors }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
