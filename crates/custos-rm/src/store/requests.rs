//! Requests: each stored with one job per connection, its audit trail, and
//! its workflow status. While it is `processing`, the end of its jobs moves
//! it on (`domain::workflow::next`) under the request's lock.
//!
//! A write transaction starts by touching the request's row
//! ([`LOCK_REQUEST`]): a row lock on PostgreSQL, and the write lock at once
//! on SQLite (rather than a read lock upgraded later, which could deadlock).

use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use time::OffsetDateTime;

use super::backend::{Backend, Conn, DbRow};
use super::columns::{from_ms, ms, parse_job_status, parse_kind, parse_regulation, parse_request_status};
use super::jobs::{job_from_row, JOB_COLUMNS};
use super::workflow::{issue_link, queue_mail};
use super::{
    AuditEntry, JobResults, NewJob, NewMail, NewRequest, NewSubjectLink, RequestCount, RequestDetail, RequestFilter,
    RequestRecord, StoreResult,
};
use crate::domain::extension::Extension;
use crate::domain::job::{JobStatus, Step};
use crate::domain::request::RequestStatus;
use crate::domain::workflow::{self, Action, Facts, JobsOutcome};

#[async_trait]
pub trait RequestStore: Send + Sync {
    /// Stores a request with one job per connection in `jobs` that is still
    /// there, due at once if the request is `processing`; with the link it
    /// issues and the mail it sends, `audit` after its receipt. Durable when this returns.
    async fn create_request(
        &self,
        new: NewRequest,
        jobs: Vec<NewJob>,
        link: Option<NewSubjectLink>,
        mail: Vec<NewMail>,
        actor: Option<String>,
        audit: Vec<String>,
    ) -> StoreResult<RequestRecord>;
    async fn request(&self, id: &str) -> StoreResult<Option<RequestRecord>>;
    /// The request's sealed subject, to write to them.
    async fn subject_sealed(&self, id: &str) -> StoreResult<Option<String>>;
    /// Newest first. `now` says which requests are overdue.
    async fn list_requests(&self, filter: &RequestFilter, now: OffsetDateTime) -> StoreResult<Vec<RequestRecord>>;
    async fn request_detail(&self, id: &str) -> StoreResult<Option<RequestDetail>>;
    /// How many requests are in each status (statuses with none are left out).
    async fn request_counts(&self) -> StoreResult<Vec<RequestCount>>;
    /// The sealed results of a request's jobs, in the jobs' order.
    async fn job_results(&self, request_id: &str) -> StoreResult<Vec<JobResults>>;
}

/// Takes the request's lock; the first statement of every transaction that changes its jobs.
pub(super) const LOCK_REQUEST: &str = "UPDATE requests SET id = id WHERE id = $1";

pub(super) const REQUEST_COLUMNS: &str =
    "id, kind, regulation, status, subject_kinds, received_at, deadline_at, created_at, finished_at, verify, \
     needs_approval, timer_at, extended_deadline_at, extension_days, extension_reason, denial_reason, notices";

pub(super) fn request_from_row<B: Backend>(row: &DbRow<B>) -> StoreResult<RequestRecord>
where
    for<'r> i64: Decode<'r, B::Db> + Type<B::Db>,
    for<'r> String: Decode<'r, B::Db> + Type<B::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<B>>,
{
    let kinds: String = row.try_get("subject_kinds")?;
    Ok(RequestRecord {
        id: row.try_get("id")?,
        kind: parse_kind(&row.try_get::<String, _>("kind")?)?,
        regulation: parse_regulation(&row.try_get::<String, _>("regulation")?)?,
        status: parse_request_status(&row.try_get::<String, _>("status")?)?,
        subject_kinds: kinds.split(',').filter(|k| !k.is_empty()).map(str::to_owned).collect(),
        received_at: from_ms(row.try_get("received_at")?),
        deadline: from_ms(row.try_get("deadline_at")?),
        created_at: from_ms(row.try_get("created_at")?),
        finished_at: row.try_get::<Option<i64>, _>("finished_at")?.map(from_ms),
        verify: row.try_get::<i64, _>("verify")? != 0,
        needs_approval: row.try_get::<i64, _>("needs_approval")? != 0,
        timer_at: row.try_get::<Option<i64>, _>("timer_at")?.map(from_ms),
        extension: match row.try_get::<Option<i64>, _>("extended_deadline_at")? {
            Some(deadline) => Some(Extension {
                days: row.try_get::<Option<i64>, _>("extension_days")?.unwrap_or_default(),
                deadline: from_ms(deadline),
                reason: row.try_get::<Option<String>, _>("extension_reason")?.unwrap_or_default(),
            }),
            None => None,
        },
        denial_reason: row.try_get("denial_reason")?,
        notices: row.try_get("notices")?,
    })
}

/// Adds a line to the request's audit trail; `actor` `None` is the system.
pub(super) async fn audit<B: Backend>(
    conn: &mut Conn<B>,
    request_id: &str,
    connection_name: Option<&str>,
    actor: Option<&str>,
    event: &str,
    now: i64,
) -> StoreResult<()>
where
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<&'q str>: Encode<'q, B::Db>,
{
    sqlx::query("INSERT INTO audit (request_id, connection_name, at, event, actor) VALUES ($1, $2, $3, $4, $5)")
        .bind(request_id)
        .bind(connection_name)
        .bind(now)
        .bind(event)
        .bind(actor)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Moves a `processing` request on once its jobs have all finished: to
/// `awaiting_delivery` (its timer due at once, so the link goes out next),
/// `completed`, `failed` or `cancelled`. The caller holds the request's lock.
pub(super) async fn recompute_status<B: Backend>(conn: &mut Conn<B>, request_id: &str, now: i64) -> StoreResult<()>
where
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> String: Decode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<&'q str>: Encode<'q, B::Db>,
    for<'q> Option<i64>: Encode<'q, B::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<B>>,
{
    let row = sqlx::query("SELECT kind, status, subject_kinds, needs_approval FROM requests WHERE id = $1")
        .bind(request_id)
        .fetch_one(&mut *conn)
        .await?;
    if parse_request_status(&row.try_get::<String, _>("status")?)? != RequestStatus::Processing {
        return Ok(());
    }
    let facts = Facts {
        kind: parse_kind(&row.try_get::<String, _>("kind")?)?,
        needs_approval: row.try_get::<i64, _>("needs_approval")? != 0,
        has_email: row.try_get::<String, _>("subject_kinds")?.split(',').any(|kind| kind == "email"),
    };
    let rows =
        sqlx::query("SELECT status FROM jobs WHERE request_id = $1").bind(request_id).fetch_all(&mut *conn).await?;
    let mut statuses = Vec::with_capacity(rows.len());
    for row in &rows {
        statuses.push(parse_job_status(&row.try_get::<String, _>("status")?)?);
    }
    let outcome = JobsOutcome::of(&statuses);
    let Ok(to) = workflow::next(RequestStatus::Processing, facts, Action::JobsFinished(outcome)) else {
        return Ok(());
    };
    let timer = (to == RequestStatus::AwaitingDelivery).then_some(now);
    sqlx::query(
        "UPDATE requests SET status = $2, timer_at = $3, finished_at = COALESCE(finished_at, $4) WHERE id = $1",
    )
    .bind(request_id)
    .bind(to.as_str())
    .bind(timer)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let event = format!("{}: every connection has finished", to.as_str());
    audit::<B>(&mut *conn, request_id, None, None, &event, now).await
}

// The bounds are what these statements bind and read; `backend.rs` says why each area repeats its own.
#[async_trait]
impl<B: Backend> RequestStore for B
where
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> String: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<&'q str>: Encode<'q, B::Db>,
    for<'q> Option<i64>: Encode<'q, B::Db>,
    for<'q> Vec<u8>: Decode<'q, B::Db> + Type<B::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<B>>,
{
    async fn create_request(
        &self,
        new: NewRequest,
        jobs: Vec<NewJob>,
        link: Option<NewSubjectLink>,
        mail: Vec<NewMail>,
        actor: Option<String>,
        lines: Vec<String>,
    ) -> StoreResult<RequestRecord> {
        let now = ms(new.created_at);
        let due = (new.status == RequestStatus::Processing).then_some(now);
        let mut tx = self.writer().begin().await?;
        sqlx::query(
            "INSERT INTO requests (id, kind, regulation, status, subject_sealed, subject_kinds, \
             received_at, deadline_at, created_at, verify, needs_approval, timer_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&new.id)
        .bind(new.kind.as_str())
        .bind(new.regulation.as_str())
        .bind(new.status.as_str())
        .bind(&new.subject_sealed)
        .bind(new.subject_kinds.join(","))
        .bind(ms(new.received_at))
        .bind(ms(new.deadline))
        .bind(now)
        .bind(i64::from(new.verify))
        .bind(i64::from(new.needs_approval))
        .bind(new.timer_at.map(ms))
        .execute(&mut *tx)
        .await?;
        let mut fanned_out = 0;
        for job in &jobs {
            let connection = sqlx::query("SELECT name FROM connections WHERE id = $1 AND removed_at IS NULL")
                .bind(job.connection_id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(connection) = connection else { continue };
            let name: String = connection.try_get("name")?;
            sqlx::query(
                "INSERT INTO jobs (request_id, connection_id, connection_name, processor_request_id, \
                 step, status, attempts, next_attempt_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8)",
            )
            .bind(&new.id)
            .bind(job.connection_id)
            .bind(&name)
            .bind(&job.processor_request_id)
            .bind(Step::Lookup.as_str())
            .bind(JobStatus::Pending.as_str())
            .bind(due)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            fanned_out += 1;
        }
        let event = format!(
            "received: {} request under {}, identities given: {}; sent to {fanned_out} connection(s)",
            new.kind.as_str(),
            new.regulation.as_str().to_uppercase(),
            new.subject_kinds.join(", "),
        );
        let actor = actor.as_deref();
        audit::<B>(&mut *tx, &new.id, None, actor, &event, now).await?;
        for line in &lines {
            audit::<B>(&mut *tx, &new.id, None, actor, line, now).await?;
        }
        if let Some(link) = &link {
            issue_link::<B>(&mut *tx, &new.id, link, now).await?;
        }
        queue_mail::<B>(&mut *tx, Some(&new.id), &mail, now).await?;
        recompute_status::<B>(&mut *tx, &new.id, now).await?;
        let row = sqlx::query(&format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = $1"))
            .bind(&new.id)
            .fetch_one(&mut *tx)
            .await?;
        let record = request_from_row::<B>(&row)?;
        tx.commit().await?;
        Ok(record)
    }

    async fn list_requests(&self, filter: &RequestFilter, now: OffsetDateTime) -> StoreResult<Vec<RequestRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM requests \
             WHERE ($1 IS NULL OR status = $1) \
             AND ($2 IS NULL OR (CASE WHEN COALESCE(finished_at, $3) > COALESCE(extended_deadline_at, deadline_at) \
                 THEN 1 ELSE 0 END) = $2) \
             AND ($6 IS NULL OR kind = $6) AND ($7 IS NULL OR regulation = $7) \
             AND ($8 IS NULL OR created_at < $8 OR (created_at = $8 AND id < $9)) \
             ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5"
        ))
        .bind(filter.status.map(|s| s.as_str()))
        .bind(filter.overdue.map(i64::from))
        .bind(ms(now))
        .bind(filter.limit)
        .bind(filter.offset)
        .bind(filter.kind.map(|k| k.as_str()))
        .bind(filter.regulation.map(|r| r.as_str()))
        .bind(filter.after.as_ref().map(|(at, _)| ms(*at)))
        .bind(filter.after.as_ref().map(|(_, id)| id.as_str()))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(request_from_row::<B>).collect()
    }

    async fn request(&self, id: &str) -> StoreResult<Option<RequestRecord>> {
        let row = sqlx::query(&format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(request_from_row::<B>).transpose()
    }

    async fn subject_sealed(&self, id: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT subject_sealed FROM requests WHERE id = $1")
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        Ok(row.map(|row| row.try_get("subject_sealed")).transpose()?)
    }

    async fn request_detail(&self, id: &str) -> StoreResult<Option<RequestDetail>> {
        let mut conn = self.reader().acquire().await?;
        let row = sqlx::query(&format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let request = request_from_row::<B>(&row)?;
        let jobs = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs j WHERE j.request_id = $1 ORDER BY j.id"))
            .bind(id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(job_from_row::<B>)
            .collect::<StoreResult<Vec<_>>>()?;
        let audit =
            sqlx::query("SELECT at, connection_name, actor, event FROM audit WHERE request_id = $1 ORDER BY id")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|row| {
                    Ok(AuditEntry {
                        at: from_ms(row.try_get("at")?),
                        connection_name: row.try_get("connection_name")?,
                        actor: row.try_get("actor")?,
                        event: row.try_get("event")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(Some(RequestDetail { request, jobs, audit }))
    }

    async fn request_counts(&self) -> StoreResult<Vec<RequestCount>> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM requests GROUP BY status ORDER BY status")
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|row| {
                Ok(RequestCount {
                    status: parse_request_status(&row.try_get::<String, _>("status")?)?,
                    count: row.try_get("n")?,
                })
            })
            .collect()
    }

    async fn job_results(&self, request_id: &str) -> StoreResult<Vec<JobResults>> {
        let rows = sqlx::query(
            "SELECT j.connection_name, r.body FROM job_results r JOIN jobs j ON j.id = r.job_id \
             WHERE j.request_id = $1 ORDER BY j.id",
        )
        .bind(request_id)
        .fetch_all(self.reader())
        .await?;
        Ok(rows
            .iter()
            .map(|row| {
                Ok(JobResults {
                    connection_name: row.try_get("connection_name")?,
                    results_sealed: row.try_get("body")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?)
    }
}
