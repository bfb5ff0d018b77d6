//! Custos's storage: the [`Store`] trait and its two backends.
//!
//! - [`sqlite`]: the embedded default, one file in the data directory, WAL mode.
//! - [`postgres`]: the scale-out store, shared by several `custos serve` nodes.
//!
//! [`Store`] is the union of one trait per area ([`TenantStore`],
//! [`RoleStore`], [`IdentityStore`], [`BatchStore`], [`SubjectRequestStore`],
//! [`DsrWorkerStore`], [`ErasureStore`], [`CallbackStore`]). Each is written
//! once, as generic code over what a backend says about itself (its sqlx
//! database, its pools, its ingest driver), in `queries/<area>.rs`, and one
//! conformance suite (`tests/`) runs against both backends. Each backend owns
//! its migrations (`migrations/<backend>/`), applied when the store is opened.
//!
//! **Invariant:** the store never sees a secret. Callers hash secrets and
//! tokens before they reach it, so no query, row or log line holds one.

mod backend;
mod batch_body;
mod dsr_model;
mod group_ingest;
mod model;
pub mod postgres;
mod queries;
pub mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

use std::path::PathBuf;
use std::sync::Arc;

use backend::Backend;

pub use batch_body::BatchBody;
pub use dsr_model::*;
pub use model::*;
pub use queries::batches::BatchStore;
pub use queries::callbacks::CallbackStore;
pub use queries::dsr_requests::SubjectRequestStore;
pub use queries::dsr_worker::DsrWorkerStore;
pub use queries::erasure::{ErasureStore, TraceHasher};
pub use queries::identity::IdentityStore;
pub use queries::roles::RoleStore;
pub use queries::tenants::TenantStore;

/// Where the data lives.
#[derive(Clone, PartialEq, Eq)]
pub enum DataSource {
    /// A directory holding the embedded SQLite database (`custos.db`).
    DataDir(PathBuf),
    /// A database URL: `sqlite:PATH` or `postgres://…`.
    Url(String),
}

impl std::fmt::Debug for DataSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataSource::DataDir(dir) => f.debug_tuple("DataDir").field(dir).finish(),
            // A URL may carry a password.
            DataSource::Url(url) => f.debug_tuple("Url").field(&redact_url(url)).finish(),
        }
    }
}

/// The URL with any password replaced, for logs and messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A [`DataSource`] resolved: the SQLite file or the PostgreSQL URL to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    SqliteFile(PathBuf),
    Postgres(String),
}

#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error("unsupported database URL `{0}`: expected sqlite:PATH or postgres://")]
    UnsupportedUrl(String),
    #[error("creating the data directory: {0}")]
    Io(#[from] std::io::Error),
}

impl DataSource {
    /// The file or URL to open, with `file_name` the SQLite file inside a
    /// data directory. Creates the directory an SQLite file goes in.
    pub fn locate(&self, file_name: &str) -> Result<Location, LocateError> {
        match self {
            DataSource::DataDir(dir) => {
                std::fs::create_dir_all(dir)?;
                Ok(Location::SqliteFile(dir.join(file_name)))
            }
            DataSource::Url(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Location::Postgres(url.clone()))
            }
            DataSource::Url(url) if url.starts_with("sqlite:") => {
                let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
                let path = path.split('?').next().unwrap_or_default();
                if path.is_empty() {
                    return Err(LocateError::UnsupportedUrl(url.clone()));
                }
                let path = PathBuf::from(path);
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)?;
                }
                Ok(Location::SqliteFile(path))
            }
            DataSource::Url(url) => Err(LocateError::UnsupportedUrl(redact_url(url))),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A custom role that a user holds would be deleted by a manifest upload.
    #[error("Custom role is assigned to a user and may not be deleted: {}", .0.join(", "))]
    RoleAssigned(Vec<String>),
    /// No custom role of the organization nor standard role has this id.
    #[error("role_id: no custom or standard role `{0}` exists")]
    UnknownRole(String),
    /// A unique value (a key, a client id) is taken.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database stayed busy for longer than the operation could wait.
    #[error("busy: {0}")]
    Busy(String),
    #[error(transparent)]
    Locate(#[from] LocateError),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// An error of a direct call on SQLite (the ingest path; see `sqlite::ingest`).
    #[error("database error: {0}")]
    Engine(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the platform keeps: the union of the area traits, each
/// implemented once for both backends.
pub trait Store:
    TenantStore
    + RoleStore
    + IdentityStore
    + BatchStore
    + SubjectRequestStore
    + DsrWorkerStore
    + ErasureStore
    + CallbackStore
    + Send
    + Sync
    + 'static
{
    /// Which backend this is, for logs: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
}

impl<B> Store for B
where
    B: Backend
        + TenantStore
        + RoleStore
        + IdentityStore
        + BatchStore
        + SubjectRequestStore
        + DsrWorkerStore
        + ErasureStore
        + CallbackStore,
{
    fn backend(&self) -> &'static str {
        B::NAME
    }
}

/// Opens (creating if needed) the store and applies pending migrations.
pub async fn open(source: &DataSource) -> StoreResult<Arc<dyn Store>> {
    Ok(match source.locate("custos.db")? {
        Location::SqliteFile(path) => Arc::new(sqlite::SqliteStore::open_file(&path).await?),
        Location::Postgres(url) => Arc::new(postgres::PostgresStore::connect(&url).await?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted_for_display() {
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("postgres://postgres@127.0.0.1/test"), "postgres://postgres@127.0.0.1/test");
        assert_eq!(redact_url("sqlite:/tmp/x.db"), "sqlite:/tmp/x.db");
    }
}
