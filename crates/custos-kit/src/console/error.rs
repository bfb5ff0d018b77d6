//! Failures inside the console's own machinery (the store, the service's
//! hooks, password hashing): logged once, answered with the 500 page and
//! no detail.

use axum::response::Response;

use super::accounts::AccountsError;
use super::layout::Shell;
use super::pages;
use super::service::{Console, ServiceError};
use crate::password::HashError;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error(transparent)]
    Accounts(#[from] AccountsError),
    #[error("service: {0}")]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Password(#[from] HashError),
    #[error("password check did not finish: {0}")]
    Blocking(#[from] tokio::task::JoinError),
}

/// Logs `error` and answers the 500 page of `console`.
pub fn server_error_response(console: &Console, error: &ConsoleError) -> Response {
    tracing::error!(error = %error, "console request failed");
    pages::server_error(&Shell::bare(console.config().product_name()))
}
