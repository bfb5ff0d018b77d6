//! [`Backend`]: what a database must say for the store's SQL to run on it.
//!
//! The SQL is written once, as generic Rust, in one module per area
//! (`settings`, `connections`, `requests`, `jobs`), each implementing its
//! area's trait for every `B: Backend`. SQLite (through sqlx) and PostgreSQL
//! both accept `$N` placeholders, `RETURNING` and `ON CONFLICT`, so every
//! statement runs unchanged on both; shared code never asks which backend it
//! is on.
//!
//! Each area's impl repeats a `where` list of sqlx bounds (what its statements
//! bind and read on `B::Db`, and that a connection executes them). Rust does
//! not carry bounds on other types (`i64: Encode<'q, B::Db>`) over from a
//! trait's declaration to its users, so they cannot be said once here; one
//! list per area file keeps each list next to the SQL that needs it.

use sqlx::{Database, Pool};

/// A database the store runs on: [`super::sqlite::SqliteStore`] or
/// [`super::postgres::PostgresStore`].
pub(crate) trait Backend: Send + Sync + 'static {
    /// The sqlx driver.
    type Db: Database;

    /// Which backend this is, for logs: `sqlite` or `postgres`.
    const NAME: &'static str;

    /// Where reads go. SQLite reads from a pool beside its single writer.
    fn reader(&self) -> &Pool<Self::Db>;

    /// Where writes and transactions go.
    fn writer(&self) -> &Pool<Self::Db>;

    /// How many rows a statement changed. Every driver's result says so, but
    /// not through a trait sqlx defines.
    fn rows_affected(result: &<Self::Db as Database>::QueryResult) -> u64;
}

/// A connection of `B`: what a transaction or a pooled connection dereferences to.
pub(super) type Conn<B> = <<B as Backend>::Db as Database>::Connection;

/// A row `B` returns.
pub(super) type DbRow<B> = <<B as Backend>::Db as Database>::Row;
