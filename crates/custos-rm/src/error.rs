//! [`RmError`]: every way an operation of the Request Manager can fail, for
//! the HTTP API (which turns it into a response in `api::error`) and the CLI.

use crate::domain::FieldError;
use crate::processor::check::CheckFailure;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RmError {
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    Unauthorized(String),
    /// The caller is known but may not do this: the permission it needs, named.
    #[error("{message}")]
    Forbidden { permission: &'static str, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The connection test failed; nothing was saved.
    #[error("the connection test failed: {}", .0.iter().map(|f| f.message.as_str()).collect::<Vec<_>>().join(" "))]
    ConnectionTest(Vec<CheckFailure>),
    /// Well-formed, but not something that can be done now.
    #[error("{0}")]
    Unprocessable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl RmError {
    pub fn invalid(field: &str, message: impl Into<String>) -> RmError {
        RmError::Invalid(vec![FieldError::new(field, message)])
    }
}

impl From<StoreError> for RmError {
    fn from(error: StoreError) -> RmError {
        match error {
            StoreError::NotFound => RmError::NotFound("not found".into()),
            StoreError::Conflict(message) => RmError::Conflict(message),
            other => RmError::Internal(other.to_string()),
        }
    }
}
