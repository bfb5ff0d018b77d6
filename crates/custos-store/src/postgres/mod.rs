//! The PostgreSQL backend: the store that several `custos serve` nodes share.
//!
//! All state lives in the database, so nodes coordinate through it alone:
//! row locks serialize an organization's changes across nodes.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgQueryResult};
use sqlx::Postgres;

use crate::backend::{Backend, RowsAffected};
use crate::{IncomingBatch, IngestOutcome, StoreResult};

mod ingest;

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
}

#[async_trait]
impl Backend for PostgresStore {
    type Db = Postgres;

    const NAME: &'static str = "postgres";

    const NUMBERED_PLACEHOLDERS: bool = true;

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    async fn commit_group(&self, batches: &[IncomingBatch]) -> StoreResult<Vec<IngestOutcome>> {
        ingest::store_group(&self.pool, batches).await
    }

    /// A commit is durable when it returns (`synchronous_commit` is on).
    async fn sync_groups(&self) -> StoreResult<()> {
        Ok(())
    }

    /// Nothing to do here: dead tuples remain until (auto)vacuum reuses
    /// their space. Operators who need erased data gone from the files run
    /// `VACUUM` on a schedule and encrypt the volume (see ARCHITECTURE.md).
    async fn purge_old_versions(&self) -> StoreResult<()> {
        Ok(())
    }
}

impl RowsAffected for PgQueryResult {
    fn rows_affected(&self) -> u64 {
        PgQueryResult::rows_affected(self)
    }
}
