//! The PostgreSQL backend: the store that several `custos serve` nodes share.
//!
//! All state lives in the database, so nodes coordinate through it alone:
//! row locks serialize an organization's changes across nodes.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::queries::impl_store;
use crate::{IncomingBatch, IngestOutcome, StoreResult};

mod ingest;

const NUMBERED_PLACEHOLDERS: bool = true;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects and migrates. The URL may set `options=-c search_path=…` to
    /// keep Custos in a schema of its own.
    pub async fn connect(url: &str) -> crate::StoreResult<PostgresStore> {
        let options: PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(PostgresStore { pool })
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    async fn commit_group(&self, batches: &[IncomingBatch]) -> StoreResult<Vec<IngestOutcome>> {
        ingest::store_group(&self.pool, batches).await
    }

    /// A commit is durable when it returns (`synchronous_commit` is on).
    async fn sync_groups(&self) -> StoreResult<()> {
        Ok(())
    }
}

impl_store!(PostgresStore, sqlx::Postgres, "postgres");
