//! The ingest path on SQLite: a group of batches is stored through a
//! connection of its own, called directly from the calling thread.
//!
//! Through sqlx, every statement and every row of a lookup is a hand-off to
//! the connection's worker thread and back; a group of a thousand batches
//! makes thousands of them, and the thread wake-ups cost more than SQLite's
//! own work. So the ingest path has its own connection, opened through
//! rusqlite, which drives [`GroupIngest`] in one transaction without a
//! hand-off and keeps its statements prepared from one group to the next.
//! A group holds the writer pool's single connection while it writes, so
//! writes of the process stay serialized and never meet `SQLITE_BUSY`.
//!
//! A group is committed without waiting for the disk (`synchronous =
//! NORMAL` on this connection) and the writer is released;
//! [`IngestWriter::sync`] then flushes the WAL (`fdatasync`). The ingestor
//! commits the next group while that flush runs, instead of the writer
//! idling through it, and a flush covers every group committed before it
//! began, so one flush often answers several groups. What is acknowledged
//! is as durable as under `synchronous = FULL`: a group is answered only
//! once a flush that began after its commit has completed, and a flush
//! covers every frame written before it, including those of earlier
//! commits that a group's reads may have relied on. A checkpoint flushes
//! the WAL before it copies frames into the database file, so nothing
//! unflushed reaches the database either.
//!
//! This connection checkpoints by itself only past a safety limit: the
//! background checkpointer does it (see `checkpoint_in_background`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{CachedStatement, Connection};
use sqlx::SqlitePool;

use crate::backend::Backend;
use crate::group_ingest::{Cell, GroupIngest, Param, Step};
use crate::{IncomingBatch, IngestOutcome, StoreError, StoreResult};

/// Distinct statements a group may prepare: five lookups and seven writes,
/// each in up to five sizes, and the transaction's own.
const STATEMENT_CACHE: usize = 96;

pub(super) struct IngestWriter {
    db: Mutex<Connection>,
    /// The write-ahead log, flushed by [`IngestWriter::sync`].
    wal: PathBuf,
    /// Groups committed so far, and how many of them the last completed
    /// flush covers.
    committed: AtomicU64,
    flushed: AtomicU64,
    /// Held while a flush runs: callers queue behind it, and the first of
    /// them flushes for all. `true` once a flush has failed.
    flushing: tokio::sync::Mutex<bool>,
}

impl IngestWriter {
    pub(super) fn open(path: &Path) -> StoreResult<IngestWriter> {
        let db = Connection::open(path)?;
        db.busy_timeout(Duration::from_secs(10))?;
        db.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // As the writer pool's connection (see `SqliteStore::open_file`), but
        // for `synchronous`: this path flushes the WAL itself.
        db.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA cache_size = {}; PRAGMA secure_delete = ON; PRAGMA temp_store = MEMORY; \
             PRAGMA mmap_size = {}; PRAGMA journal_size_limit = {}; PRAGMA wal_autocheckpoint = {};",
            super::WRITER_CACHE,
            super::MMAP_BYTES,
            super::WAL_KEPT_BYTES,
            super::SAFETY_CHECKPOINT_PAGES,
        ))?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        Ok(IngestWriter {
            db: Mutex::new(db),
            wal: wal.into(),
            committed: AtomicU64::new(0),
            flushed: AtomicU64::new(0),
            flushing: tokio::sync::Mutex::new(false),
        })
    }

    /// Stores a group of batches in one transaction, committed but not yet flushed.
    pub(super) async fn commit_group(
        &self,
        writer: &SqlitePool,
        batches: &[IncomingBatch],
    ) -> StoreResult<Vec<IngestOutcome>> {
        let _writer = writer.acquire().await?;
        let outcomes = blocking(|| {
            // Only a group holding the writer locks this, so it is never contended.
            let db = self.db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            in_transaction(&db, batches)
        })?;
        self.committed.fetch_add(1, Ordering::SeqCst);
        Ok(outcomes)
    }

    /// Returns once every group committed before this call is on disk.
    pub(super) async fn sync(&self) -> StoreResult<()> {
        let wanted = self.committed.load(Ordering::SeqCst);
        let mut failed = self.flushing.lock().await;
        if *failed {
            // After a failed fsync, Linux may report later ones as successful
            // although the pages it failed to write are gone: only a restart,
            // which recovers the WAL from what the disk holds, can tell.
            return Err(StoreError::Io(std::io::Error::other(
                "an earlier flush of the WAL failed; restart the server to recover what was written",
            )));
        }
        // A flush that began after our commit, while we queued, covers it.
        if self.flushed.load(Ordering::SeqCst) >= wanted {
            return Ok(());
        }
        let covered = self.committed.load(Ordering::SeqCst);
        let wal = self.wal.clone();
        let flushed = tokio::task::spawn_blocking(move || std::fs::File::open(wal)?.sync_data())
            .await
            .map_err(std::io::Error::other)
            .and_then(|flushed| flushed);
        if let Err(error) = flushed {
            tracing::error!(%error, "flushing the WAL failed; batches are refused until the server restarts");
            *failed = true;
            return Err(error.into());
        }
        self.flushed.store(covered, Ordering::SeqCst);
        Ok(())
    }
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
    db.prepare_cached("BEGIN IMMEDIATE")?.raw_execute()?;
    let stored = drive(db, batches).and_then(|outcomes| {
        db.prepare_cached("COMMIT")?.raw_execute()?;
        Ok(outcomes)
    });
    if stored.is_err() && !db.is_autocommit() {
        // Best effort: the error being returned is the one worth reporting.
        let _ = db.execute_batch("ROLLBACK");
    }
    stored
}

fn drive(db: &Connection, batches: &[IncomingBatch]) -> StoreResult<Vec<IngestOutcome>> {
    let mut ingest = GroupIngest::new(batches, <super::SqliteStore as Backend>::NUMBERED_PLACEHOLDERS);
    loop {
        match ingest.next_step() {
            Step::Read(queries) => {
                for query in queries {
                    let mut statement = prepare(db, query.statement.sql, &query.statement.params)?;
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
                    prepare(db, statement.sql, &statement.params)?.raw_execute()?;
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
