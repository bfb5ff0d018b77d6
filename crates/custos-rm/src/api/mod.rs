//! The HTTP side of `custos rm serve`: the API under `/rm/v1`, the
//! console's pages (the kit's sign-in routes and this service's pages), and
//! the pages data subjects reach from their email.
//!
//! Handlers are thin: read the body into a draft, call the
//! [`RequestManager`], answer with a view. Every `/rm/v1` route but the
//! callback receiver takes [`auth::Require`] with the permission it needs;
//! `error.rs` turns every error into a response in one place.

mod auth;
mod callbacks;
mod connections;
mod console;
mod error;
mod fields;
mod people;
mod requests;
mod subject;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use custos_kit::console::layout::Shell;
use custos_kit::console::pages::not_found;
use custos_kit::console::Console;
use serde_json::Value;
use tokio::sync::Notify;

use crate::domain::job::RetryPolicy;
use crate::error::RmError;
use crate::manager::RequestManager;

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) manager: RequestManager,
    /// Wakes the worker when there is new work.
    pub(crate) wake: Arc<Notify>,
    /// How callbacks schedule a job's next step.
    pub(crate) retry: Arc<RetryPolicy>,
    /// The console's settings, accounts and clock.
    pub(crate) console: Console,
}

/// Largest request body accepted.
const MAX_BODY_BYTES: usize = 1024 * 1024;

pub(crate) fn router(manager: RequestManager, wake: Arc<Notify>, retry: RetryPolicy) -> Result<Router, RmError> {
    let console = manager.console()?;
    let state = AppState { manager, wake, retry: Arc::new(retry), console };
    let api = Router::new()
        .route("/rm/v1/me", get(people::me))
        .route("/rm/v1/connections", post(connections::create).get(connections::list))
        .route("/rm/v1/connections/{id}", delete(connections::remove))
        .route("/rm/v1/connections/{id}/recheck", post(connections::recheck))
        .route("/rm/v1/requests", post(requests::create).get(requests::list))
        .route("/rm/v1/requests.csv", get(requests::csv))
        .route("/rm/v1/requests/approve", post(requests::approve_many))
        .route("/rm/v1/requests/{id}", get(requests::show))
        .route("/rm/v1/requests/{id}/results", get(requests::results))
        .route("/rm/v1/requests/{id}/approve", post(requests::approve))
        .route("/rm/v1/requests/{id}/deny", post(requests::deny))
        .route("/rm/v1/requests/{id}/extend", post(requests::extend))
        .route("/rm/v1/requests/{id}/deliver", post(requests::deliver))
        .route("/rm/v1/stats", get(stats))
        .route("/rm/v1/outbox", get(people::outbox))
        .route("/rm/v1/outbox/{id}/sent", post(people::mark_sent))
        .route("/rm/v1/users", get(people::users).post(people::invite))
        .route("/rm/v1/users/{email}", axum::routing::patch(people::update).delete(people::remove))
        .route("/rm/v1/users/{email}/reset-password", post(people::reset_password))
        .route("/rm/v1/tokens", post(people::issue_token))
        .route("/rm/v1/audit", get(people::audit))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::lift_form_token));
    Ok(Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/", get(console::home))
        .route("/verify/{token}", get(subject::show_verify).post(subject::confirm_verify))
        .route("/download/{token}", get(subject::show_download).post(subject::download))
        .route("/rm/v1/callbacks/opendsr", post(callbacks::receive))
        .merge(api)
        .merge(custos_kit::console::router::<AppState>())
        .fallback(missing)
        .method_not_allowed_fallback(|| async {
            let errors = serde_json::json!({"errors": [{"code": "method_not_allowed", "message": "this route does not take that method"}]});
            (StatusCode::METHOD_NOT_ALLOWED, Json(errors))
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state))
}

/// The API's routes answer JSON; anything else is a console page.
async fn missing(State(state): State<AppState>, uri: Uri) -> Response {
    if uri.path().starts_with("/rm/") {
        return RmError::NotFound("no such route".into()).into_response();
    }
    not_found(&Shell::bare(state.console.config().product_name()))
}

/// Requests per status, calls per API, and the summary the home page shows.
async fn stats(_: auth::Require<auth::ReadRequests>, State(state): State<AppState>) -> Result<Json<Value>, RmError> {
    let requests = state.manager.store.request_counts().await?;
    let summary = state.manager.summary().await?;
    Ok(Json(crate::views::stats(state.manager.processors.metrics(), &requests, &summary)))
}
