//! The PostgreSQL backend: the store that several `custos serve` nodes share.
//!
//! All state lives in the database, so nodes coordinate through it alone:
//! row locks serialize an organization's changes across nodes.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::queries::impl_store;

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
}

impl_store!(PostgresStore, sqlx::Postgres, "postgres");
