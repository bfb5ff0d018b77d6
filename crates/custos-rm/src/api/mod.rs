//! The HTTP API, under `/rm/v1`. Handlers are thin: read the body into a
//! draft, call the [`RequestManager`], answer with a view. Every route but
//! the callback receiver and `/healthz` takes the admin bearer token.

mod auth;
mod callbacks;
mod connections;
mod error;
mod fields;
mod requests;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::Value;
use tokio::sync::Notify;

use crate::domain::job::RetryPolicy;
use crate::manager::RequestManager;

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) manager: RequestManager,
    /// Wakes the worker when there is new work.
    pub(crate) wake: Arc<Notify>,
    /// How callbacks schedule a job's next step.
    pub(crate) retry: Arc<RetryPolicy>,
}

/// Largest request body accepted.
const MAX_BODY_BYTES: usize = 1024 * 1024;

pub(crate) fn router(manager: RequestManager, wake: Arc<Notify>, retry: RetryPolicy) -> Router {
    let state = AppState { manager, wake, retry: Arc::new(retry) };
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/rm/v1/connections", post(connections::create).get(connections::list))
        .route("/rm/v1/connections/{id}", delete(connections::remove))
        .route("/rm/v1/requests", post(requests::create).get(requests::list))
        .route("/rm/v1/requests/{id}", get(requests::show))
        .route("/rm/v1/requests/{id}/results", get(requests::results))
        .route("/rm/v1/callbacks/opendsr", post(callbacks::receive))
        .route("/rm/v1/stats", get(stats))
        .fallback(|| async { crate::error::RmError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async {
            let errors = serde_json::json!({"errors": [{"code": "method_not_allowed", "message": "this route does not take that method"}]});
            (axum::http::StatusCode::METHOD_NOT_ALLOWED, Json(errors))
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn stats(_: auth::Admin, State(state): State<AppState>) -> Result<Json<Value>, crate::error::RmError> {
    let requests = state.manager.store.request_counts().await?;
    Ok(Json(crate::views::stats(state.manager.processors.metrics(), &requests)))
}
