//! The ingest path on SQLite: a group of batches is stored by direct calls on
//! the writer connection's handle, from the calling thread.
//!
//! Through sqlx, every statement and every row of a lookup is a hand-off to
//! the connection's worker thread and back; a group of a thousand batches
//! makes thousands of them, and the thread wake-ups cost more than SQLite's
//! own work. sqlx lends the handle out for direct calls
//! (`SqliteConnection::lock_handle`), and this module drives
//! [`GroupIngest`] on it through rusqlite, in one transaction, without a
//! hand-off. The writer pool's single connection still serializes every
//! write of the process.
//!
//! A group is committed without waiting for the disk (`synchronous =
//! NORMAL` for that transaction), the writer is released, and only then is
//! the WAL flushed (`fdatasync`), before the call returns. So the next group
//! is written while this one's flush runs, instead of the writer idling
//! through it. This is as durable as `synchronous = FULL` for what is
//! acknowledged: a call returns only once a flush that began after its
//! commit has completed, and a flush covers every frame written before it,
//! including those of earlier commits that a group's reads may have relied
//! on. A checkpoint flushes the WAL before it copies frames into the
//! database file, so nothing unflushed reaches the database either.

use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{CachedStatement, Connection};
use sqlx::SqlitePool;

use crate::group_ingest::{Cell, GroupIngest, Param, Step};
use crate::{IncomingBatch, IngestOutcome, StoreError, StoreResult};

/// Distinct statements a group may prepare: five lookups and seven writes,
/// each in up to five sizes.
const STATEMENT_CACHE: usize = 64;

pub(super) async fn store_group(
    writer: &SqlitePool,
    wal: &Path,
    batches: &[IncomingBatch],
) -> StoreResult<Vec<IngestOutcome>> {
    let outcomes = commit_unflushed(writer, batches).await?;
    let wal = wal.to_owned();
    tokio::task::spawn_blocking(move || std::fs::File::open(wal)?.sync_data())
        .await
        .map_err(std::io::Error::other)??;
    Ok(outcomes)
}

/// Commits the group on the writer, which it then releases; the commit is
/// not yet flushed to disk.
async fn commit_unflushed(writer: &SqlitePool, batches: &[IncomingBatch]) -> StoreResult<Vec<IngestOutcome>> {
    let mut conn = writer.acquire().await?;
    let mut locked = conn.lock_handle().await?;
    let handle = locked.as_raw_handle();
    blocking(|| {
        // SAFETY: `locked` guarantees that sqlx's worker thread makes no call
        // on this handle, nor on its statements, while it lives; it outlives
        // `db`, which is dropped at the end of this closure. rusqlite's
        // `from_handle` does not take ownership: dropping `db` finalizes only
        // the statements prepared through it and leaves the connection open.
        #[allow(unsafe_code)]
        let db = unsafe { Connection::from_handle(handle.as_ptr()) }?;
        db.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        db.execute_batch("PRAGMA synchronous = NORMAL")?;
        let committed = in_transaction(&db, batches);
        // Every other write on this connection commits with a flush.
        db.execute_batch("PRAGMA synchronous = FULL")?;
        committed
    })
}

/// Runs `work` where blocking is allowed: on a multi-threaded runtime the
/// worker hands its other tasks over first; elsewhere (a current-thread
/// runtime, as in tests) it simply runs.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|runtime| runtime.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

fn in_transaction(db: &Connection, batches: &[IncomingBatch]) -> StoreResult<Vec<IngestOutcome>> {
    // IMMEDIATE: take the write lock now, so that the lookups read what the
    // writes will be applied to.
    db.execute_batch("BEGIN IMMEDIATE")?;
    let stored = drive(db, batches).and_then(|outcomes| {
        db.execute_batch("COMMIT")?;
        Ok(outcomes)
    });
    if stored.is_err() && !db.is_autocommit() {
        // Best effort: the error being returned is the one worth reporting.
        let _ = db.execute_batch("ROLLBACK");
    }
    stored
}

fn drive(db: &Connection, batches: &[IncomingBatch]) -> StoreResult<Vec<IngestOutcome>> {
    let mut ingest = GroupIngest::new(batches, super::NUMBERED_PLACEHOLDERS);
    loop {
        match ingest.next_step() {
            Step::Read(queries) => {
                for query in queries {
                    let mut statement = prepare(db, &query.statement.sql, &query.statement.params)?;
                    let width = statement.column_count();
                    let mut rows = statement.raw_query();
                    let mut read = Vec::new();
                    while let Some(row) = rows.next()? {
                        read.push((0..width).map(|i| Ok(cell(row.get_ref(i)?))).collect::<StoreResult<Vec<_>>>()?);
                    }
                    ingest.absorb(query.lookup, read)?;
                }
            }
            Step::Write(statements) => {
                for statement in statements {
                    prepare(db, &statement.sql, &statement.params)?.raw_execute()?;
                }
            }
            Step::Done(outcomes) => return Ok(outcomes),
        }
    }
}

fn prepare<'db>(db: &'db Connection, sql: &str, params: &[Param<'_>]) -> StoreResult<CachedStatement<'db>> {
    let mut statement = db.prepare_cached(sql)?;
    for (index, param) in params.iter().enumerate() {
        match param {
            Param::Int(value) => statement.raw_bind_parameter(index + 1, value)?,
            Param::Text(value) => statement.raw_bind_parameter(index + 1, value.as_deref())?,
            Param::Blob(value) => statement.raw_bind_parameter(index + 1, value)?,
        }
    }
    Ok(statement)
}

fn cell(value: ValueRef<'_>) -> Cell {
    match value {
        ValueRef::Integer(value) => Cell::Int(value),
        ValueRef::Text(text) => Cell::Text(String::from_utf8_lossy(text).into_owned()),
        ValueRef::Null | ValueRef::Real(_) | ValueRef::Blob(_) => Cell::Null,
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> StoreError {
        StoreError::Engine(error.to_string())
    }
}
