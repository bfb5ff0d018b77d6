//! The Request Manager (`custos rm`): connects mParticle workspaces (by pod)
//! and Custos platforms (by base URL), and runs data subjects' access,
//! deletion and opt-out requests to completion on every connection.
//!
//! # Layout
//! - [`domain`]: requests, deadlines, connections and the per-connection step
//!   machine. Pure: no I/O, no async, no serde.
//! - [`store`]: [`store::RmStore`], with SQLite and PostgreSQL backends.
//! - [`processor`]: clients of the Identity, Events and DSR APIs, paced under
//!   their documented rate limits; the connection test; signature checks.
//! - [`worker`]: runs jobs from the store, resumable after a crash.
//! - [`manager`]: the operations the HTTP API and the CLI share.
//! - [`config`]: how requests are taken in and answered (`--verify`, …).
//! - [`mail`]: messages to subjects and operators, and SMTP.
//! - [`housekeeping`]: the workflow's timers and the outbox, every second.
//! - `api`: the axum HTTP API under `/rm/v1`, the console's routes and the
//!   subjects' pages; [`views`]: its JSON.
//! - [`package`]: an access request's results as one zip.
//! - [`sealing`], [`token`]: the key that seals secrets, and the admin token.

mod api;
pub mod config;
pub mod domain;
pub mod error;
pub mod housekeeping;
pub mod mail;
pub mod manager;
pub mod package;
pub mod processor;
pub mod sealing;
pub mod store;
pub mod token;
pub mod views;
pub mod worker;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;

pub use error::RmError;
pub use manager::RequestManager;
use worker::{Worker, WorkerConfig};

/// Settings of `custos rm serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The URL processors reach this service at, for status callbacks.
    pub public_url: String,
    /// How long to wait for a callback before asking a processor for a status.
    pub poll_interval: Duration,
}

impl ServeConfig {
    fn worker(&self) -> WorkerConfig {
        let callback_url = format!("{}/rm/v1/callbacks/opendsr", self.public_url.trim_end_matches('/'));
        WorkerConfig::new(Some(callback_url), self.poll_interval)
    }
}

/// Serves the API on `listener` and runs the worker, until `shutdown`
/// completes; then stops accepting, finishes what is in flight, and returns.
pub async fn serve(
    listener: TcpListener,
    manager: RequestManager,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, manager, config.worker(), shutdown).await
}

/// [`serve`] with the worker's settings spelt out (concurrency, backoff).
pub async fn serve_with(
    listener: TcpListener,
    manager: RequestManager,
    worker_config: WorkerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let invalid = |error: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, error);
    let mailer = manager.config.smtp.as_ref().map(mail::Mailer::new).transpose().map_err(invalid)?;
    let wake = Arc::new(Notify::new());
    let (stop_sender, stop) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut stop = stop.clone();
        async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        }
    };
    let app = api::router(manager.clone(), wake.clone(), worker_config.retry.clone())
        .map_err(|error| invalid(error.to_string()))?;
    let housekeeping = tokio::spawn(housekeeping::run(manager.clone(), mailer, stopped()));
    let worker = Worker::new(manager, worker_config, wake);
    let worker = tokio::spawn(worker.run(stopped()));
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop_sender.send(true);
        })
        .await;
    if let Err(error) = worker.await {
        tracing::error!(%error, "the worker stopped abnormally");
    }
    if let Err(error) = housekeeping.await {
        tracing::error!(%error, "the timers and mail stopped abnormally");
    }
    served
}

/// Reads a duration such as `30s`, `10m` or `1h 30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|error| format!("`{text}` is not a duration (e.g. 30s, 10m, 1h): {error}"))
}
