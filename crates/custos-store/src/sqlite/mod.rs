//! The embedded SQLite backend: the default, needing no server.
//!
//! One file, in WAL mode with `synchronous = FULL`, so a committed
//! transaction survives a crash or power loss. Writes go through a pool of
//! one connection, which serializes them inside the process without
//! `SQLITE_BUSY` churn; event batches go through a connection of their own
//! while holding that one (see [`ingest`]). Reads use a separate pool and
//! run beside the writer, as WAL allows. Other processes (the CLI while the
//! server runs) wait on the busy timeout.
//!
//! Checkpoints (copying the WAL back into the database file) run on a
//! connection of their own, in the background, so that the writers' commits
//! do not pay for them; see [`checkpoint_in_background`].

use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteQueryResult, SqliteSynchronous,
};
use sqlx::{Row, Sqlite};

use crate::backend::{Backend, RowsAffected};
use crate::{IncomingBatch, IngestOutcome, StoreError, StoreResult};

mod ingest;

/// How often the background checkpointer copies the WAL back.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// WAL pages (4 KiB) past which the background checkpointer makes the WAL
/// start over (see [`checkpoint_in_background`]).
const RESTART_PAGES: i64 = 32_768;

/// WAL pages past which a connection checkpoints by itself after a commit:
/// only if the background checkpointer has fallen far behind.
const SAFETY_CHECKPOINT_PAGES: &str = "65536";

/// Bytes the WAL file is cut back to when it starts over: what it grows to
/// between restarts, so that it is not cut and grown again each time.
const WAL_KEPT_BYTES: &str = "134217728";

/// Bytes of the file read through a memory map instead of `read` calls
/// (SQLite caps it at 2 GiB by default): no copy into the page cache.
const MMAP_BYTES: &str = "2147418112";

/// The page cache of a writing connection (64 MiB), which holds a whole
/// ingest group's pages.
const WRITER_CACHE: &str = "-65536";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    writer: SqlitePool,
    ingest: ingest::IngestWriter,
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
        // Deleted content is overwritten with zeros, so that an erased
        // subject cannot be read back from free space in the file. Statement
        // journals (each multi-row upsert keeps one) stay in memory.
        let writer_options = options
            .clone()
            .pragma("cache_size", WRITER_CACHE)
            .pragma("secure_delete", "ON")
            .pragma("temp_store", "MEMORY")
            .pragma("wal_autocheckpoint", SAFETY_CHECKPOINT_PAGES)
            .pragma("journal_size_limit", WAL_KEPT_BYTES);
        // A connection to a local file has nothing to test before it is lent
        // out: sqlx's ping would cost a round trip to its worker thread.
        let pool = || SqlitePoolOptions::new().test_before_acquire(false);
        let writer = pool().max_connections(1).connect_with(writer_options).await?;
        MIGRATOR.run(&writer).await?;
        let checkpointer = pool().max_connections(1).connect_with(options.clone()).await?;
        let reader = pool().max_connections(8).connect_with(options.read_only(true)).await?;
        let alive = Arc::new(());
        tokio::spawn(checkpoint_in_background(checkpointer, writer.clone(), Arc::downgrade(&alive)));
        let ingest = ingest::IngestWriter::open(path)?;
        Ok(SqliteStore { writer, ingest, reader, _alive: alive })
    }
}

#[async_trait]
impl Backend for SqliteStore {
    type Db = Sqlite;

    const NAME: &'static str = "sqlite";

    /// SQLite binds anonymous (`?`) parameters in order, numbered ones by name.
    const NUMBERED_PLACEHOLDERS: bool = false;

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    async fn commit_group(&self, batches: &[IncomingBatch]) -> StoreResult<Vec<IngestOutcome>> {
        self.ingest.commit_group(&self.writer, batches).await
    }

    async fn sync_groups(&self) -> StoreResult<()> {
        self.ingest.sync().await
    }

    /// Deleted rows were zeroed in place (`secure_delete`), but older
    /// versions of their pages may sit in the WAL. A TRUNCATE checkpoint
    /// copies the WAL back and empties it; it must wait for readers of
    /// older snapshots, so it is tried for a while.
    async fn purge_old_versions(&self) -> StoreResult<()> {
        let mut conn = self.writer.acquire().await?;
        for _ in 0..200 {
            let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&mut *conn).await?;
            if row.try_get::<i64, _>(0)? == 0 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Err(StoreError::Busy("the WAL could not be checkpointed: readers held it for 5 s".into()))
    }
}

impl RowsAffected for SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        SqliteQueryResult::rows_affected(self)
    }
}

/// Copies the WAL back into the database file every [`CHECKPOINT_EVERY`]
/// while the store is open, so that the writers' commits do not pay for it.
///
/// A PASSIVE checkpoint takes no lock a writer needs, so it runs beside the
/// writer, on another thread. But the WAL only starts over from its
/// beginning when a write begins with every frame copied, which a
/// checkpoint running beside a writer that never pauses does not achieve.
/// So past [`RESTART_PAGES`], once a checkpoint has left few frames behind,
/// one more runs while holding the writer, which copies the rest: the next
/// write starts the WAL over. Erasure's TRUNCATE checkpoint runs on the
/// writer as before.
async fn checkpoint_in_background(checkpointer: SqlitePool, writer: SqlitePool, alive: Weak<()>) {
    let mut ticks = tokio::time::interval(CHECKPOINT_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if alive.strong_count() == 0 {
            break;
        }
        if let Err(error) = checkpoint(&checkpointer, &writer).await {
            tracing::warn!(%error, "background WAL checkpoint failed; writers checkpoint by themselves past 256 MiB");
        }
    }
    checkpointer.close().await;
}

async fn checkpoint(checkpointer: &SqlitePool, writer: &SqlitePool) -> Result<(), sqlx::Error> {
    let passive = || async {
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(checkpointer).await?;
        Ok::<_, sqlx::Error>((row.try_get::<i64, _>(1)?, row.try_get::<i64, _>(2)?))
    };
    let (mut log, mut copied) = passive().await?;
    // Each pass leaves behind what was written while it ran, a shrinking share.
    for _ in 0..3 {
        if log < RESTART_PAGES || log - copied <= RESTART_PAGES / 16 {
            break;
        }
        (log, copied) = passive().await?;
    }
    if log >= RESTART_PAGES {
        let _writer = writer.acquire().await?;
        passive().await?;
    }
    Ok(())
}
