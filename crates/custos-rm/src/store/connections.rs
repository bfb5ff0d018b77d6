//! Connections: the platforms requests run on. A removed connection keeps
//! its row, for the jobs that name it, but gets no new jobs, and removing it
//! cancels its unfinished ones.

use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use time::OffsetDateTime;

use super::backend::{Backend, Conn, DbRow};
use super::columns::{from_ms, ms, OPEN};
use super::requests::{audit, recompute_status, LOCK_REQUEST};
use super::{Connection, NewConnection, StoreError, StoreResult, StoredConnection};
use crate::domain::job::{JobStatus, Step};

#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Fails with [`StoreError::Conflict`] if a connection of that name exists.
    async fn insert_connection(&self, new: NewConnection) -> StoreResult<Connection>;
    /// The connections not removed, oldest first.
    async fn list_connections(&self) -> StoreResult<Vec<Connection>>;
    /// Removes a connection and cancels its unfinished jobs. Returns whether it existed.
    async fn remove_connection(&self, id: i64, now: OffsetDateTime) -> StoreResult<bool>;
    /// A connection not removed, with its sealed secrets.
    async fn stored_connection(&self, id: i64) -> StoreResult<Option<StoredConnection>>;
    /// Records a check at `now`, pinning `certificate_sha256` when given.
    async fn record_check(
        &self,
        id: i64,
        certificate_sha256: Option<&str>,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Connection>>;
}

const CONNECTION_COLUMNS: &str =
    "id, name, pod, base_url, workspace_key, web_key, created_at, certificate_sha256, checked_at";

fn connection_from_row<B: Backend>(row: &DbRow<B>) -> Result<Connection, sqlx::Error>
where
    for<'r> i64: Decode<'r, B::Db> + Type<B::Db>,
    for<'r> String: Decode<'r, B::Db> + Type<B::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<B>>,
{
    Ok(Connection {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        pod: row.try_get("pod")?,
        base_url: row.try_get("base_url")?,
        workspace_key: row.try_get("workspace_key")?,
        web_key: row.try_get("web_key")?,
        created_at: from_ms(row.try_get("created_at")?),
        certificate_sha256: row.try_get("certificate_sha256")?,
        checked_at: row.try_get::<Option<i64>, _>("checked_at")?.map(from_ms),
    })
}

// The bounds are what these statements bind and read; `backend.rs` says why each area repeats its own.
#[async_trait]
impl<B: Backend> ConnectionStore for B
where
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> String: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<&'q str>: Encode<'q, B::Db>,
    for<'q> Option<i64>: Encode<'q, B::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<B>>,
{
    async fn insert_connection(&self, new: NewConnection) -> StoreResult<Connection> {
        let result = sqlx::query(
            "INSERT INTO connections (name, pod, base_url, workspace_key, workspace_secret_sealed, \
             web_key, web_secret_sealed, created_at, certificate_sha256, checked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8) RETURNING id",
        )
        .bind(&new.name)
        .bind(new.pod.as_deref())
        .bind(new.base_url.as_deref())
        .bind(&new.workspace_key)
        .bind(&new.workspace_secret_sealed)
        .bind(&new.web_key)
        .bind(&new.web_secret_sealed)
        .bind(ms(new.created_at))
        .bind(new.certificate_sha256.as_deref())
        .fetch_one(self.writer())
        .await;
        let row = match result {
            Ok(row) => row,
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                return Err(StoreError::Conflict(format!("a connection named `{}` exists", new.name)))
            }
            Err(error) => return Err(error.into()),
        };
        Ok(Connection {
            id: row.try_get("id")?,
            name: new.name,
            pod: new.pod,
            base_url: new.base_url,
            workspace_key: new.workspace_key,
            web_key: new.web_key,
            created_at: from_ms(ms(new.created_at)),
            certificate_sha256: new.certificate_sha256,
            checked_at: Some(from_ms(ms(new.created_at))),
        })
    }

    async fn stored_connection(&self, id: i64) -> StoreResult<Option<StoredConnection>> {
        let row = sqlx::query(&format!(
            "SELECT {CONNECTION_COLUMNS}, workspace_secret_sealed, web_secret_sealed FROM connections \
             WHERE id = $1 AND removed_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(self.reader())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredConnection {
            connection: connection_from_row::<B>(&row)?,
            workspace_secret_sealed: row.try_get("workspace_secret_sealed")?,
            web_secret_sealed: row.try_get("web_secret_sealed")?,
            removed: false,
        }))
    }

    async fn record_check(
        &self,
        id: i64,
        certificate_sha256: Option<&str>,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Connection>> {
        let row = sqlx::query(&format!(
            "UPDATE connections SET certificate_sha256 = COALESCE($2, certificate_sha256), checked_at = $3 \
             WHERE id = $1 AND removed_at IS NULL RETURNING {CONNECTION_COLUMNS}"
        ))
        .bind(id)
        .bind(certificate_sha256)
        .bind(ms(now))
        .fetch_optional(self.writer())
        .await?;
        Ok(row.as_ref().map(connection_from_row::<B>).transpose()?)
    }

    async fn list_connections(&self) -> StoreResult<Vec<Connection>> {
        let rows =
            sqlx::query(&format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE removed_at IS NULL ORDER BY id"))
                .fetch_all(self.reader())
                .await?;
        Ok(rows.iter().map(connection_from_row::<B>).collect::<Result<_, _>>()?)
    }

    async fn remove_connection(&self, id: i64, now: OffsetDateTime) -> StoreResult<bool> {
        let now = ms(now);
        let removed = sqlx::query("UPDATE connections SET removed_at = $2 WHERE id = $1 AND removed_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(self.writer())
            .await?;
        if B::rows_affected(&removed) == 0 {
            return Ok(false);
        }
        let requests = sqlx::query(&format!(
            "SELECT DISTINCT request_id FROM jobs WHERE connection_id = $1 AND status IN {OPEN} ORDER BY request_id"
        ))
        .bind(id)
        .fetch_all(self.writer())
        .await?;
        // One transaction per request, each taking the request's lock first, as the worker does.
        for row in requests {
            let request_id: String = row.try_get("request_id")?;
            let mut tx = self.writer().begin().await?;
            sqlx::query(LOCK_REQUEST).bind(&request_id).execute(&mut *tx).await?;
            let cancelled = sqlx::query(&format!(
                "UPDATE jobs SET step = $3, status = $4, next_attempt_at = NULL, claimed_until = NULL, \
                 mpids_sealed = NULL, updated_at = $5 \
                 WHERE request_id = $1 AND connection_id = $2 AND status IN {OPEN} RETURNING connection_name"
            ))
            .bind(&request_id)
            .bind(id)
            .bind(Step::Done.as_str())
            .bind(JobStatus::Cancelled.as_str())
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            for job in &cancelled {
                let name: String = job.try_get("connection_name")?;
                audit::<B>(&mut *tx, &request_id, Some(&name), None, "cancelled: the connection was removed", now)
                    .await?;
            }
            recompute_status::<B>(&mut *tx, &request_id, now).await?;
            tx.commit().await?;
        }
        Ok(true)
    }
}
