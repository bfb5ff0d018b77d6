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

    /// Concurrent groups could each create a profile for the same new
    /// identity, neither seeing the other's: one group at a time.
    const INGEST_CONCURRENCY: usize = 1;

    async fn store_group(&self, batches: &[IncomingBatch]) -> StoreResult<Vec<IngestOutcome>> {
        ingest::store_group(&self.pool, batches).await
    }
}

impl_store!(PostgresStore, sqlx::Postgres, "postgres");
