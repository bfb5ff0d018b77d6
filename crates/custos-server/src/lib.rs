//! The Custos platform: mParticle's HTTP APIs over a [`custos_store::Store`].
//!
//! # Layout
//! - [`serve`] runs the HTTP server on a listener until a shutdown signal, then drains.
//! - `routes/`: one module per API, each exporting `router()`; handlers are thin:
//!   parse, call the core and the store, answer.
//! - `auth/`: extractors that authenticate a request and state its access level
//!   (an OAuth bearer grant with a scope, tenancy of the path; an input's or
//!   a workspace's key).
//! - `error`: [`ApiError`], the one place where errors become HTTP responses.
//! - `middleware`: request ids, tracing, body limits, JSON bodies for bare errors.
//! - `batch`: reading Events API batches; `ingest`: their group commit.
//! - `dsr`: data subject requests: the worker, exports, callbacks, signatures;
//!   [`DsrWorker`] steps the worker by hand (tests, or a node of its own).
//! - [`dsr_report`]: requests as operators see them (admin API and CLI).
//! - `profile_view`: a profile in mParticle's JSON shape.
//! - [`provision`]: creation of organizations and credentials (used by the CLI too).
//! - [`secrets`]: generation, hashing and constant-time checking of secrets.
//! - [`sealing`]: the master key, for the input secrets that must be recovered.

mod auth;
mod batch;
pub mod config;
mod dsr;
pub mod dsr_report;
mod error;
mod ingest;
mod input_cache;
mod middleware;
mod profile_view;
pub mod provision;
mod routes;
pub mod sealing;
pub mod secrets;
mod state;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use custos_store::Store;
use tokio::net::TcpListener;

pub use config::ServeConfig;
pub use dsr::{Clock, DsrWorker, WorkOutcome};
pub use error::ApiError;
use state::AppState;

/// The whole application, for a store and a configuration. Background work
/// (data subject requests, callbacks) runs only under [`serve`].
pub fn app(store: Arc<dyn Store>, config: ServeConfig) -> Router {
    router(AppState::new(store, config))
}

fn router(state: AppState) -> Router {
    let max_body_bytes = state.config.max_body_bytes;
    let request_timeout = state.config.request_timeout;
    middleware::wrap(routes::router().with_state(state), max_body_bytes, request_timeout)
}

/// Serves the platform on `listener` until `shutdown` completes, then stops
/// accepting connections, waits for the requests in flight, and stops the
/// background workers between steps. Without a configured public URL, the
/// listener's address is the public URL.
pub async fn serve(
    listener: TcpListener,
    store: Arc<dyn Store>,
    mut config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if config.public_url.is_none() {
        config.public_url = Some(format!("http://{}", listener.local_addr()?));
    }
    let state = AppState::new(store, config);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = dsr::start(state.dsr.clone(), stopped);
    let app = router(state);
    let served = axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await;
    let _ = stop.send(true);
    for worker in workers {
        // A worker mid-step finishes it; one that takes too long is left to
        // its lease, which another node (or the next start) takes over.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), worker).await;
    }
    served
}
