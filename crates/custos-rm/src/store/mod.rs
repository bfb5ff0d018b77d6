//! The Request Manager's store: [`RmStore`] and its two backends, SQLite
//! (the default, `rm.db` in the data directory) and PostgreSQL.
//!
//! The SQL is written once, as generic Rust over a `Backend` (what differs
//! per database: its sqlx driver, its name, its pools), in one module per
//! area, each with its trait: [`SettingStore`] (`settings.rs`),
//! [`ConnectionStore`] (`connections.rs`), [`RequestStore`] (`requests.rs`:
//! requests, their audit trails and statuses), [`JobStore`] (`jobs.rs`: the
//! worker's claims and steps, and callbacks' updates), [`WorkflowStore`]
//! (`workflow.rs`: decided changes with their links and mail, timers,
//! notices, the outbox, the report), [`UserStore`] (`users.rs`: people, API
//! tokens, the audit log) and [`AccountStore`] (`accounts.rs`: the console's
//! sign-ins, handed to the kit as [`RmAccounts`]). [`RmStore`] is their union. `columns.rs` says how values are
//! stored (timestamps as Unix milliseconds). Each backend owns its
//! migrations (`migrations/<backend>/`), and one conformance suite
//! (`tests/store.rs`) runs against both.
//!
//! Everything the worker needs to resume lives here: a job's step, its
//! attempts and when it is next due, and the `subject_request_id` it
//! submits, fixed when the request is created.
//!
//! **Invariant:** nothing recoverable and secret is stored in clear. Callers
//! seal connection secrets, subjects' identities and access results with the
//! [`crate::sealing::SealingKey`] (mail to send too: it holds addresses and
//! links), and store only the SHA-256 of API tokens, sessions and links.
//!
//! **Invariant:** a change to a job and the recomputation of its request's
//! status happen in one transaction that first locks the request's row, so
//! two jobs finishing at once never leave the request's status stale.

mod accounts;
mod backend;
mod columns;
mod connections;
mod jobs;
mod model;
pub mod postgres;
mod requests;
mod settings;
pub mod sqlite;
mod users;
mod workflow;

use std::sync::Arc;

pub use accounts::{AccountStore, RmAccounts};
pub(crate) use backend::Backend;
pub use connections::ConnectionStore;
pub use jobs::JobStore;
pub use model::*;
pub use requests::RequestStore;
pub use settings::SettingStore;
pub use users::UserStore;
pub use workflow::WorkflowStore;

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

/// Everything the Request Manager keeps: the union of the area traits, each
/// implemented once, for every `Backend` (`backend.rs`), in its own module.
pub trait RmStore:
    SettingStore
    + ConnectionStore
    + RequestStore
    + JobStore
    + WorkflowStore
    + UserStore
    + AccountStore
    + Send
    + Sync
    + 'static
{
    /// Which backend this is, for logs: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
}

impl<B> RmStore for B
where
    B: Backend + SettingStore + ConnectionStore + RequestStore + JobStore + WorkflowStore + UserStore + AccountStore,
{
    fn backend(&self) -> &'static str {
        B::NAME
    }
}

/// Opens (creating if needed) the store and applies pending migrations.
pub async fn open(source: &DataSource) -> StoreResult<Arc<dyn RmStore>> {
    Ok(match source.locate("rm.db")? {
        Location::SqliteFile(path) => Arc::new(sqlite::SqliteStore::open_file(&path).await?),
        Location::Postgres(url) => Arc::new(postgres::PostgresStore::connect(&url).await?),
    })
}
