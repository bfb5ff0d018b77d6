//! What a backend must say for the store's shared SQL ([`crate::queries`]) to run on it.
//!
//! Everything else about a backend (how it opens, its pragmas, its ingest
//! driver) stays in its own module: [`crate::sqlite`], [`crate::postgres`].

use async_trait::async_trait;
use sqlx::{Database, Pool};

use crate::{IncomingBatch, IngestOutcome, StoreResult};

/// A database the store runs on. The area traits of [`crate::Store`] are
/// implemented once, for every `Backend`, in [`crate::queries`].
///
/// Crate-private: its pools would let a caller past the area traits, and
/// [`crate::Store`] is the only way to data.
#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    /// The sqlx database the queries run through.
    type Db: Database<QueryResult: RowsAffected>;

    /// Which backend this is, for logs: `sqlite` or `postgres`.
    const NAME: &'static str;

    /// Whether multi-row statements number their placeholders (`$1`) or
    /// leave them anonymous (`?`): see [`crate::group_ingest::placeholders`].
    const NUMBERED_PLACEHOLDERS: bool;

    /// Where reads go.
    fn reader(&self) -> &Pool<Self::Db>;

    /// Where writes go: on SQLite a pool of one connection, which
    /// serializes them.
    fn writer(&self) -> &Pool<Self::Db>;

    /// Stores a group of batches in one transaction (the statements of
    /// [`crate::group_ingest::GroupIngest`]), committed but maybe not yet durable.
    async fn commit_group(&self, batches: &[IncomingBatch]) -> StoreResult<Vec<IngestOutcome>>;

    /// Returns once every group committed before this call is durable.
    async fn sync_groups(&self) -> StoreResult<()>;

    /// Removes the older versions of changed and deleted rows that the
    /// database keeps in its files beside the live ones, so that erased
    /// data cannot be read back from them.
    async fn purge_old_versions(&self) -> StoreResult<()>;
}

/// A connection of backend `B`, which the queries' helpers run on.
pub(crate) type Conn<B> = <<B as Backend>::Db as Database>::Connection;

/// The arguments of a statement of backend `B`.
pub(crate) type Args<'q, B> = <<B as Backend>::Db as Database>::Arguments<'q>;

/// A row read from backend `B`.
pub(crate) type DbRow<B> = <<B as Backend>::Db as Database>::Row;

/// How many rows a statement changed. Each sqlx driver's result has an
/// inherent `rows_affected`, but no trait to call it through when the
/// driver is a type parameter.
pub(crate) trait RowsAffected {
    fn rows_affected(&self) -> u64;
}
