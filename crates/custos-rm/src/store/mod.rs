//! The Request Manager's store: [`RmStore`] and its two backends, SQLite
//! (the default, `rm.db` in the data directory) and PostgreSQL.
//!
//! As in `custos-store`, the SQL is written once (`queries.rs`) and expanded
//! per backend, each backend owns its migrations (`migrations/<backend>/`),
//! and one conformance suite (`tests/store.rs`) runs against both.
//!
//! Everything the worker needs to resume lives here: a job's step, its
//! attempts and when it is next due, and the `subject_request_id` it
//! submits, fixed when the request is created.
//!
//! **Invariant:** nothing recoverable and secret is stored in clear. Callers
//! seal connection secrets, subjects' identities and access results with the
//! [`crate::sealing::SealingKey`], and store only the SHA-256 of API tokens.
//!
//! **Invariant:** a change to a job and the recomputation of its request's
//! status happen in one transaction that first locks the request's row, so
//! two jobs finishing at once never leave the request's status stale.

mod model;
pub mod postgres;
mod queries;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::job::JobState;
use crate::domain::request::RequestStatus;
pub use model::*;

// Where the data lives is said as for the platform's store.
pub use custos_store::{redact_url, DataSource, LocateError, Location};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique value (a connection's name) is taken.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored value this version cannot read.
    #[error("unreadable stored value: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Locate(#[from] LocateError),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the Request Manager keeps. One implementation per backend.
#[async_trait]
pub trait RmStore: Send + Sync + 'static {
    /// Which backend this is, for logs: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    // Settings.
    async fn setting(&self, name: &str) -> StoreResult<Option<String>>;
    /// Stores `value` unless the setting exists; returns the value now stored.
    async fn setting_or_insert(&self, name: &str, value: &str) -> StoreResult<String>;

    // Admin API tokens, by their SHA-256 digests.
    async fn add_api_token(&self, digest: &str, now: OffsetDateTime) -> StoreResult<()>;
    async fn api_token_digests(&self) -> StoreResult<Vec<String>>;

    // Connections.
    /// Fails with [`StoreError::Conflict`] if a connection of that name exists.
    async fn insert_connection(&self, new: NewConnection) -> StoreResult<Connection>;
    /// The connections not removed, oldest first.
    async fn list_connections(&self) -> StoreResult<Vec<Connection>>;
    /// Removes a connection and cancels its unfinished jobs. Returns whether it existed.
    async fn remove_connection(&self, id: i64, now: OffsetDateTime) -> StoreResult<bool>;

    // Requests.
    /// Stores a request with one job per connection in `jobs` that is still
    /// there; each job is due at once. Durable when this returns.
    async fn create_request(&self, new: NewRequest, jobs: Vec<NewJob>) -> StoreResult<RequestRecord>;
    /// Newest first.
    async fn list_requests(&self, filter: &RequestFilter) -> StoreResult<Vec<RequestRecord>>;
    async fn request_detail(&self, id: &str) -> StoreResult<Option<RequestDetail>>;
    /// How many requests are in each status (statuses with none are left out).
    async fn request_counts(&self) -> StoreResult<Vec<(RequestStatus, i64)>>;
    /// The sealed results of a request's jobs, with each job's connection name.
    async fn job_results(&self, request_id: &str) -> StoreResult<Vec<(String, Vec<u8>)>>;

    // The worker.
    /// Releases every claim: a starting worker is the only one of its store.
    async fn release_claims(&self) -> StoreResult<u64>;
    /// Claims up to `limit` unfinished jobs due at `now` and not claimed,
    /// earliest first, until `claim_until`.
    async fn claim_due_jobs(
        &self,
        now: OffsetDateTime,
        claim_until: OffsetDateTime,
        limit: i64,
    ) -> StoreResult<Vec<i64>>;
    async fn work_item(&self, job_id: i64) -> StoreResult<Option<WorkItem>>;
    async fn work_item_by_processor_request(&self, processor_request_id: &str) -> StoreResult<Option<WorkItem>>;
    /// Records a step's outcome and releases the claim (unless the update
    /// keeps it). A job that was woken while claimed becomes due at once.
    /// A finished job forgets the MPIDs its lookup found.
    /// Returns false, changing nothing, if the job had already finished.
    async fn record_step(&self, job_id: i64, update: JobUpdate, now: OffsetDateTime) -> StoreResult<bool>;
    /// Applies an update from outside the worker (a callback) if the job is
    /// still in state `expected` and unclaimed. Otherwise wakes the job, so
    /// the worker asks the processor at once, and returns false.
    async fn apply_unclaimed(
        &self,
        job_id: i64,
        expected: JobState,
        update: JobUpdate,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
}

/// Opens (creating if needed) the store and applies pending migrations.
pub async fn open(source: &DataSource) -> StoreResult<Arc<dyn RmStore>> {
    Ok(match source.locate("rm.db")? {
        Location::SqliteFile(path) => Arc::new(sqlite::SqliteStore::open_file(&path).await?),
        Location::Postgres(url) => Arc::new(postgres::PostgresStore::connect(&url).await?),
    })
}
