//! [`ApiError`]: every way a request can fail, and the one place where a
//! failure becomes an HTTP response.
//!
//! Client errors are answered verbatim, as `{"errors": [{"code", "message"}]}`
//! (mParticle's error shape), except at `/oauth/token`, which answers in the
//! OAuth 2.0 shape `{"error", "error_description"}`. Server errors are logged
//! once, inside the request's span, and answered without detail.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use custos_store::StoreError;
use serde_json::json;

use crate::dsr::DsrError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("{0}")]
    Unauthorized(String),
    /// Missing credentials where HTTP Basic is expected (Events API).
    #[error("{0}")]
    BasicUnauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    /// An error of the Identity API, in the shape its SDKs parse.
    #[error("{message}")]
    Identity { status: StatusCode, code: &'static str, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{}", .0.join("; "))]
    Conflict(Vec<String>),
    #[error("request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("rate limit exceeded for this {limit}: retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64, limit: &'static str },
    /// An error of the OAuth token endpoint (RFC 6749 §5.2).
    #[error("{error}: {description}")]
    OAuth { status: StatusCode, error: &'static str, description: String },
    /// An error of the Data Subject Request API, in mParticle's OpenDSR shape
    /// `{"code", "message", "errors": [{"domain", "reason", "message"}]}`.
    #[error("{}", .messages.join("; "))]
    OpenDsr { status: StatusCode, reason: &'static str, messages: Vec<String>, retry_after_secs: Option<u64> },
    #[error("internal error: {0}")]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::Invalid(vec![message.into()])
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) | ApiError::BasicUnauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Identity { status, .. } => *status,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::OAuth { status, .. } | ApiError::OpenDsr { status, .. } => *status,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The code of mParticle's error shape for a status.
pub(crate) fn error_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "VALIDATION_ERROR",
        StatusCode::UNAUTHORIZED => "UNAUTHORIZED",
        StatusCode::FORBIDDEN => "FORBIDDEN",
        StatusCode::NOT_FOUND => "NOT_FOUND",
        StatusCode::METHOD_NOT_ALLOWED => "METHOD_NOT_ALLOWED",
        StatusCode::REQUEST_TIMEOUT => "REQUEST_TIMEOUT",
        StatusCode::CONFLICT => "CONFLICT",
        StatusCode::PAYLOAD_TOO_LARGE => "PAYLOAD_TOO_LARGE",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UNSUPPORTED_MEDIA_TYPE",
        StatusCode::TOO_MANY_REQUESTS => "RATE_LIMIT_EXCEEDED",
        status if status.is_client_error() => "BAD_REQUEST",
        _ => "INTERNAL_ERROR",
    }
}

/// A body in mParticle's error shape.
pub(crate) fn error_body(status: StatusCode, messages: &[String]) -> serde_json::Value {
    let code = error_code(status);
    json!({ "errors": messages.iter().map(|message| json!({ "code": code, "message": message })).collect::<Vec<_>>() })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let messages = match &self {
            ApiError::Invalid(messages) | ApiError::Conflict(messages) => messages.clone(),
            ApiError::OAuth { error, description, .. } => {
                let body = json!({ "error": error, "error_description": description });
                let mut response = (status, axum::Json(body)).into_response();
                if status == StatusCode::UNAUTHORIZED {
                    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
                }
                return response;
            }
            ApiError::Identity { code, message, .. } => {
                // mParticle's docs say `errors`; the Web SDK reads `Errors`. Both, then.
                let errors = json!([{ "code": code, "message": message }]);
                let body = json!({
                    "errors": errors, "Errors": errors, "ErrorCode": code, "StatusCode": status.as_u16(),
                });
                return (status, axum::Json(body)).into_response();
            }
            ApiError::OpenDsr { reason, messages, retry_after_secs, .. } => {
                let domain = if status == StatusCode::BAD_REQUEST { "Validation" } else { "Request" };
                let body = json!({
                    "code": status.as_u16(),
                    "message": messages.join(" "),
                    "errors": messages.iter().map(|message| json!({
                        "domain": domain, "reason": reason, "message": message,
                    })).collect::<Vec<_>>(),
                });
                let mut response = (status, axum::Json(body)).into_response();
                if status == StatusCode::UNAUTHORIZED {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"opendsr\""));
                }
                if let Some(seconds) = retry_after_secs {
                    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*seconds));
                }
                return response;
            }
            ApiError::Internal(error) => {
                tracing::error!(%error, "request failed");
                vec!["internal error; the server log has the details".to_owned()]
            }
            other => vec![other.to_string()],
        };
        let mut response = (status, axum::Json(error_body(status, &messages))).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::BasicUnauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"custos\""));
            }
            ApiError::RateLimited { retry_after_secs, limit } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
                headers.insert("x-mp-rate-limit-exceeded", HeaderValue::from_static(limit));
            }
            _ => {}
        }
        response
    }
}

/// The DSR machinery's failures, as the DSR API's handlers meet them
/// (loading the signer): the store's are answered as the store's, the rest
/// are the server's.
impl From<DsrError> for ApiError {
    fn from(error: DsrError) -> ApiError {
        match error {
            DsrError::Store(error) => error.into(),
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::NotFound => ApiError::NotFound("not found".to_owned()),
            error @ (StoreError::RoleAssigned(_) | StoreError::UnknownRole(_)) => ApiError::invalid(error.to_string()),
            StoreError::Conflict(what) => ApiError::Conflict(vec![format!("{what} already exists")]),
            other => ApiError::Internal(Box::new(other)),
        }
    }
}
