//! Jobs: the worker's claims and steps, and the updates callbacks bring.
//!
//! Every change to a job is made in a transaction that first locks its
//! request's row and ends by recomputing the request's status
//! ([`super::requests::recompute_status`]).

use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use time::OffsetDateTime;

use super::backend::{Backend, Conn, DbRow};
use super::columns::{from_ms, ms, parse_job_status, parse_kind, parse_regulation, parse_step, OPEN};
use super::requests::{audit, recompute_status};
use super::{Connection, JobRecord, JobUpdate, StoreResult, StoredConnection, WorkItem};
use crate::domain::job::JobState;

#[async_trait]
pub trait JobStore: Send + Sync {
    /// Releases every claim: a starting worker is the only one of its store.
    async fn release_claims(&self) -> StoreResult<u64>;
    /// Claims up to `limit` unfinished jobs due at `now` and not claimed,
    /// earliest first, until `claim_until`.
    async fn claim_due_jobs(
        &self,
        now: OffsetDateTime,
        claim_until: OffsetDateTime,
        limit: i64,
    ) -> StoreResult<Vec<i64>>;
    async fn work_item(&self, job_id: i64) -> StoreResult<Option<WorkItem>>;
    async fn work_item_by_processor_request(&self, processor_request_id: &str) -> StoreResult<Option<WorkItem>>;
    /// Records a step's outcome and releases the claim (unless the update
    /// keeps it). A job that was woken while claimed becomes due at once.
    /// A finished job forgets the MPIDs its lookup found.
    /// Returns false, changing nothing, if the job had already finished.
    async fn record_step(&self, job_id: i64, update: JobUpdate, now: OffsetDateTime) -> StoreResult<bool>;
    /// Applies an update from outside the worker (a callback) if the job is
    /// still in state `expected` and unclaimed. Otherwise wakes the job, so
    /// the worker asks the processor at once, and returns false.
    async fn apply_unclaimed(
        &self,
        job_id: i64,
        expected: JobState,
        update: JobUpdate,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
}

/// The columns [`job_from_row`] reads, from `jobs j`.
pub(super) const JOB_COLUMNS: &str = "j.id, j.request_id, j.connection_id, j.connection_name, j.processor_request_id, \
     j.step, j.status, j.attempts, j.next_attempt_at, j.processor_status, j.last_error, j.updated_at, \
     (SELECT COUNT(*) FROM job_results r WHERE r.job_id = j.id) AS results_count";

const WORK_ITEM: &str = "SELECT j.id, j.request_id, j.connection_id, j.connection_name, \
     j.processor_request_id, j.step, j.status, j.attempts, j.next_attempt_at, j.processor_status, \
     j.last_error, j.updated_at, j.results_url, j.mpids_sealed, \
     (SELECT COUNT(*) FROM job_results r WHERE r.job_id = j.id) AS results_count, \
     q.kind, q.regulation, q.subject_sealed, q.received_at, \
     c.name AS c_name, c.pod, c.base_url, c.workspace_key, c.workspace_secret_sealed, c.web_key, \
     c.web_secret_sealed, c.created_at AS c_created_at, c.removed_at, c.certificate_sha256, c.checked_at \
     FROM jobs j JOIN requests q ON q.id = j.request_id JOIN connections c ON c.id = j.connection_id";

pub(super) fn job_from_row<B: Backend>(row: &DbRow<B>) -> StoreResult<JobRecord>
where
    for<'r> i64: Decode<'r, B::Db> + Type<B::Db>,
    for<'r> String: Decode<'r, B::Db> + Type<B::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<B>>,
{
    let attempts: i64 = row.try_get("attempts")?;
    Ok(JobRecord {
        id: row.try_get("id")?,
        request_id: row.try_get("request_id")?,
        connection_id: row.try_get("connection_id")?,
        connection_name: row.try_get("connection_name")?,
        processor_request_id: row.try_get("processor_request_id")?,
        state: JobState {
            step: parse_step(&row.try_get::<String, _>("step")?)?,
            status: parse_job_status(&row.try_get::<String, _>("status")?)?,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        },
        next_attempt_at: row.try_get::<Option<i64>, _>("next_attempt_at")?.map(from_ms),
        processor_status: row.try_get("processor_status")?,
        last_error: row.try_get("last_error")?,
        has_results: row.try_get::<i64, _>("results_count")? > 0,
        updated_at: from_ms(row.try_get("updated_at")?),
    })
}

fn work_item_from_row<B: Backend>(row: &DbRow<B>) -> StoreResult<WorkItem>
where
    for<'r> i64: Decode<'r, B::Db> + Type<B::Db>,
    for<'r> String: Decode<'r, B::Db> + Type<B::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<B>>,
{
    Ok(WorkItem {
        job: job_from_row::<B>(row)?,
        kind: parse_kind(&row.try_get::<String, _>("kind")?)?,
        regulation: parse_regulation(&row.try_get::<String, _>("regulation")?)?,
        subject_sealed: row.try_get("subject_sealed")?,
        received_at: from_ms(row.try_get("received_at")?),
        results_url: row.try_get("results_url")?,
        mpids_sealed: row.try_get("mpids_sealed")?,
        connection: StoredConnection {
            connection: Connection {
                id: row.try_get("connection_id")?,
                name: row.try_get("c_name")?,
                pod: row.try_get("pod")?,
                base_url: row.try_get("base_url")?,
                workspace_key: row.try_get("workspace_key")?,
                web_key: row.try_get("web_key")?,
                created_at: from_ms(row.try_get("c_created_at")?),
                certificate_sha256: row.try_get("certificate_sha256")?,
                checked_at: row.try_get::<Option<i64>, _>("checked_at")?.map(from_ms),
            },
            workspace_secret_sealed: row.try_get("workspace_secret_sealed")?,
            web_secret_sealed: row.try_get("web_secret_sealed")?,
            removed: row.try_get::<Option<i64>, _>("removed_at")?.is_some(),
        },
    })
}

/// A job that can still change, under its request's lock.
struct OpenJob {
    id: i64,
    request_id: String,
    connection_name: String,
}

/// Locks the job's request and returns the job, if it is still open.
async fn lock_open_job<B: Backend>(conn: &mut Conn<B>, job_id: i64) -> StoreResult<Option<OpenJob>>
where
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> String: Decode<'q, B::Db> + Type<B::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<B>>,
{
    sqlx::query("UPDATE requests SET id = id WHERE id = (SELECT request_id FROM jobs WHERE id = $1)")
        .bind(job_id)
        .execute(&mut *conn)
        .await?;
    let row = sqlx::query(&format!("SELECT request_id, connection_name FROM jobs WHERE id = $1 AND status IN {OPEN}"))
        .bind(job_id)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Ok(Some(OpenJob {
            id: job_id,
            request_id: row.try_get("request_id")?,
            connection_name: row.try_get("connection_name")?,
        })),
        None => Ok(None),
    }
}

/// Writes `update` to the job if it is open (and, with `expected`, still in
/// that state and unclaimed); then its results, its audit line and its
/// request's status. Returns whether the job was written.
async fn write_job<B: Backend>(
    conn: &mut Conn<B>,
    job: &OpenJob,
    update: JobUpdate,
    now: i64,
    expected: Option<JobState>,
) -> StoreResult<bool>
where
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> String: Decode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<&'q str>: Encode<'q, B::Db>,
    for<'q> Option<i64>: Encode<'q, B::Db>,
    for<'q> Vec<u8>: Encode<'q, B::Db> + Type<B::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<B>>,
{
    let condition = match expected {
        Some(_) => {
            " AND step = $12 AND status = $13 AND attempts = $14 AND (claimed_until IS NULL OR claimed_until < $6)"
        }
        None => "",
    };
    let sql = format!(
        "UPDATE jobs SET step = $2, status = $3, attempts = $4, \
         next_attempt_at = CASE WHEN woken <> 0 AND $5 IS NOT NULL THEN $6 ELSE $5 END, \
         woken = 0, claimed_until = $7, \
         processor_status = COALESCE($8, processor_status), results_url = COALESCE($9, results_url), \
         mpids_sealed = CASE WHEN $3 IN {OPEN} THEN COALESCE($10, mpids_sealed) ELSE NULL END, \
         last_error = $11, updated_at = $6 \
         WHERE id = $1 AND status IN {OPEN}{condition}"
    );
    let mut query = sqlx::query(&sql)
        .bind(job.id)
        .bind(update.state.step.as_str())
        .bind(update.state.status.as_str())
        .bind(i64::from(update.state.attempts))
        .bind(update.next_attempt_at.map(ms))
        .bind(now)
        .bind(update.keep_claim_until.map(ms))
        .bind(update.processor_status.as_deref())
        .bind(update.results_url.as_deref())
        .bind(update.mpids_sealed.as_deref())
        .bind(update.last_error.as_deref());
    if let Some(expected) = expected {
        query = query.bind(expected.step.as_str()).bind(expected.status.as_str()).bind(i64::from(expected.attempts));
    }
    if B::rows_affected(&query.execute(&mut *conn).await?) == 0 {
        return Ok(false);
    }
    if let Some(body) = update.results_sealed {
        sqlx::query(
            "INSERT INTO job_results (job_id, body) VALUES ($1, $2) \
             ON CONFLICT (job_id) DO UPDATE SET body = excluded.body",
        )
        .bind(job.id)
        .bind(body)
        .execute(&mut *conn)
        .await?;
    }
    audit::<B>(&mut *conn, &job.request_id, Some(&job.connection_name), None, &update.audit, now).await?;
    recompute_status::<B>(&mut *conn, &job.request_id, now).await?;
    Ok(true)
}

// The bounds are what these statements bind and read; `backend.rs` says why each area repeats its own.
#[async_trait]
impl<B: Backend> JobStore for B
where
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> String: Decode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<&'q str>: Encode<'q, B::Db>,
    for<'q> Option<i64>: Encode<'q, B::Db>,
    for<'q> Vec<u8>: Encode<'q, B::Db> + Type<B::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<B>>,
{
    async fn release_claims(&self) -> StoreResult<u64> {
        let released = sqlx::query("UPDATE jobs SET claimed_until = NULL WHERE claimed_until IS NOT NULL")
            .execute(self.writer())
            .await?;
        Ok(B::rows_affected(&released))
    }

    async fn claim_due_jobs(
        &self,
        now: OffsetDateTime,
        claim_until: OffsetDateTime,
        limit: i64,
    ) -> StoreResult<Vec<i64>> {
        let rows = sqlx::query(
            "UPDATE jobs SET claimed_until = $1, woken = 0 WHERE id IN (SELECT id FROM jobs \
             WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= $2 \
             AND (claimed_until IS NULL OR claimed_until < $2) ORDER BY next_attempt_at, id LIMIT $3) \
             RETURNING id",
        )
        .bind(ms(claim_until))
        .bind(ms(now))
        .bind(limit)
        .fetch_all(self.writer())
        .await?;
        Ok(rows.iter().map(|row| row.try_get("id")).collect::<Result<_, _>>()?)
    }

    async fn work_item(&self, job_id: i64) -> StoreResult<Option<WorkItem>> {
        let row =
            sqlx::query(&format!("{WORK_ITEM} WHERE j.id = $1")).bind(job_id).fetch_optional(self.reader()).await?;
        row.as_ref().map(work_item_from_row::<B>).transpose()
    }

    async fn work_item_by_processor_request(&self, processor_request_id: &str) -> StoreResult<Option<WorkItem>> {
        let row = sqlx::query(&format!("{WORK_ITEM} WHERE j.processor_request_id = $1"))
            .bind(processor_request_id)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(work_item_from_row::<B>).transpose()
    }

    async fn record_step(&self, job_id: i64, update: JobUpdate, now: OffsetDateTime) -> StoreResult<bool> {
        let now = ms(now);
        let mut tx = self.writer().begin().await?;
        let Some(job) = lock_open_job::<B>(&mut *tx, job_id).await? else {
            return Ok(false);
        };
        let written = write_job::<B>(&mut *tx, &job, update, now, None).await?;
        tx.commit().await?;
        Ok(written)
    }

    async fn apply_unclaimed(
        &self,
        job_id: i64,
        expected: JobState,
        update: JobUpdate,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let now = ms(now);
        let mut tx = self.writer().begin().await?;
        let Some(job) = lock_open_job::<B>(&mut *tx, job_id).await? else {
            return Ok(false);
        };
        let audit_line = update.audit.clone();
        if write_job::<B>(&mut *tx, &job, update, now, Some(expected)).await? {
            tx.commit().await?;
            return Ok(true);
        }
        sqlx::query(&format!(
            "UPDATE jobs SET woken = 1, next_attempt_at = CASE \
             WHEN claimed_until IS NULL OR claimed_until < $2 THEN $2 ELSE next_attempt_at END \
             WHERE id = $1 AND status IN {OPEN}"
        ))
        .bind(job_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let event = format!("{audit_line} (not applied while the worker holds the job; it asks the processor next)");
        audit::<B>(&mut *tx, &job.request_id, Some(&job.connection_name), None, &event, now).await?;
        tx.commit().await?;
        Ok(false)
    }
}
