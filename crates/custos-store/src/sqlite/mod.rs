//! The embedded SQLite backend: the default, needing no server.
//!
//! One file, in WAL mode with `synchronous = FULL`, so a committed
//! transaction survives a crash or power loss. Writes go through a pool of
//! one connection, which serializes them inside the process without
//! `SQLITE_BUSY` churn; reads use a separate pool and run beside the writer,
//! as WAL allows. Other processes (the CLI while the server runs) wait on
//! the busy timeout.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::queries::impl_store;

/// SQLite binds anonymous (`?`) parameters in order, numbered ones by name.
const NUMBERED_PLACEHOLDERS: bool = false;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
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
            .statement_cache_capacity(256);
        // The writer's page cache (64 MiB) holds a whole ingest group's pages.
        // Deleted content is overwritten with zeros, so that an erased
        // subject cannot be read back from free space in the file.
        let writer_options = options.clone().pragma("cache_size", "-65536").pragma("secure_delete", "ON");
        let writer = SqlitePoolOptions::new().max_connections(1).connect_with(writer_options).await?;
        MIGRATOR.run(&writer).await?;
        let reader = SqlitePoolOptions::new().max_connections(8).connect_with(options.read_only(true)).await?;
        Ok(SqliteStore { writer, reader })
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }
}

impl_store!(SqliteStore, sqlx::Sqlite, "sqlite");
