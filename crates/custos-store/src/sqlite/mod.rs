//! The embedded SQLite backend: the default, needing no server.
//!
//! One file, in WAL mode with `synchronous = FULL`, so a committed
//! transaction survives a crash or power loss. Writes go through a pool of
//! one connection, which serializes them inside the process without
//! `SQLITE_BUSY` churn; reads use a separate pool and run beside the writer,
//! as WAL allows. Other processes (the CLI while the server runs) wait on
//! the busy timeout.
//!
//! Checkpoints (copying the WAL back into the database file) run on a
//! connection of their own, in the background, so that the writer's commits
//! do not pay for them; see [`checkpoint_in_background`].

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::queries::impl_store;
use crate::{IncomingBatch, IngestOutcome};

mod ingest;

/// SQLite binds anonymous (`?`) parameters in order, numbered ones by name.
const NUMBERED_PLACEHOLDERS: bool = false;

/// How often the background checkpointer copies the WAL back.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// WAL pages (4 KiB) past which the writer checkpoints by itself after a
/// commit. While writes never pause, the background checkpointer cannot
/// copy the very last frames, and the WAL only starts over once all are
/// copied; the writer's own checkpoint then has only those left.
const WRITER_CHECKPOINT_PAGES: &str = "16384";

/// Bytes the WAL file is cut back to when it starts over.
const WAL_KEPT_BYTES: &str = "67108864";

/// Bytes of the file read through a memory map instead of `read` calls
/// (SQLite caps it at 2 GiB by default): no copy into the page cache.
const MMAP_BYTES: &str = "2147418112";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    /// The write-ahead log, flushed by the ingest path itself.
    wal: PathBuf,
    writer: SqlitePool,
    reader: SqlitePool,
    /// The background checkpointer runs while this lives.
    _alive: Arc<()>,
}

impl SqliteStore {
    pub async fn open_file(path: &Path) -> crate::StoreResult<SqliteStore> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .statement_cache_capacity(256)
            .pragma("mmap_size", MMAP_BYTES);
        // The writer's page cache (64 MiB) holds a whole ingest group's pages.
        // Deleted content is overwritten with zeros, so that an erased
        // subject cannot be read back from free space in the file. Statement
        // journals (each multi-row upsert keeps one) stay in memory.
        let writer_options = options
            .clone()
            .pragma("cache_size", "-65536")
            .pragma("secure_delete", "ON")
            .pragma("temp_store", "MEMORY")
            .pragma("wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)
            .pragma("journal_size_limit", WAL_KEPT_BYTES);
        let writer = SqlitePoolOptions::new().max_connections(1).connect_with(writer_options).await?;
        MIGRATOR.run(&writer).await?;
        let checkpointer = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
        let reader = SqlitePoolOptions::new().max_connections(8).connect_with(options.read_only(true)).await?;
        let alive = Arc::new(());
        tokio::spawn(checkpoint_in_background(checkpointer, Arc::downgrade(&alive)));
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        Ok(SqliteStore { wal: wal.into(), writer, reader, _alive: alive })
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    /// A second group is written while the first's flush runs (see `ingest`).
    const INGEST_CONCURRENCY: usize = 2;

    async fn store_group(&self, batches: &[IncomingBatch]) -> crate::StoreResult<Vec<IngestOutcome>> {
        ingest::store_group(&self.writer, &self.wal, batches).await
    }
}

/// Copies the WAL back into the database file every [`CHECKPOINT_EVERY`]
/// while the store is open. A PASSIVE checkpoint takes no lock a writer
/// needs, so it runs beside the writer, on another thread; once it has
/// copied everything, the next write starts the WAL over from its
/// beginning. Erasure's TRUNCATE checkpoint runs on the writer as before.
async fn checkpoint_in_background(checkpointer: SqlitePool, alive: Weak<()>) {
    let mut ticks = tokio::time::interval(CHECKPOINT_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if alive.strong_count() == 0 {
            break;
        }
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&checkpointer).await {
            tracing::warn!(%error, "background WAL checkpoint failed; the writer checkpoints by itself past 64 MiB");
        }
    }
    checkpointer.close().await;
}

impl_store!(SqliteStore, sqlx::Sqlite, "sqlite");
