//! Data subject requests as the DSR API sees them: creating, finding,
//! listing and cancelling requests, their audit trail, the chunks of their
//! exports, and the processor's signing identity.
//!
//! A request is its own job (`dsr_requests`): the worker's side is
//! `dsr_worker.rs`. Every change of status is one transaction with its
//! audit entry (`audit_in`) and the callbacks it owes (`queue_callbacks`),
//! which the other DSR areas share.

use async_trait::async_trait;
use custos_core::dsr::{Regulation, RequestStatus, RequestType};
use custos_core::ids::WorkspaceId;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use time::OffsetDateTime;

use super::unix_ms;
use crate::backend::{Args, Backend, Conn, DbRow};
use crate::dsr_model::encode_subject;
use crate::{
    AuditEntry, CancelOutcome, CreateOutcome, NewSubjectRequest, ProcessorIdentity, StoreResult, SubjectRequest,
};

/// The columns of a [`SubjectRequest`], in the order `request_from_row` reads.
pub(crate) const REQUEST_COLUMNS: &str = "workspace_id, request_id, regulation, request_type, status, group_id, \
     api_version, submitted_at_ms, received_at_ms, process_after_ms, expected_completion_ms, suppress, \
     callback_urls, attempts, last_error, failure_reason, matched_profiles, export_bytes, export_expires_ms, \
     updated_at_ms, completed_at_ms";

/// Data subject requests, their audit trail and results, as the API serves them.
#[async_trait]
pub trait SubjectRequestStore: Send + Sync {
    async fn create_subject_request(&self, new: &NewSubjectRequest) -> StoreResult<CreateOutcome>;
    async fn subject_request(&self, workspace_id: WorkspaceId, request_id: &str)
        -> StoreResult<Option<SubjectRequest>>;
    async fn subject_requests_in_group(
        &self,
        workspace_id: WorkspaceId,
        group_id: &str,
    ) -> StoreResult<Vec<SubjectRequest>>;
    /// The newest requests first, of one workspace or all, of one status or all.
    async fn list_subject_requests(
        &self,
        workspace_id: Option<WorkspaceId>,
        status: Option<RequestStatus>,
        limit: i64,
    ) -> StoreResult<Vec<SubjectRequest>>;
    /// The requests of this id in any workspace (for operators' tools).
    async fn subject_requests_by_id(&self, request_id: &str) -> StoreResult<Vec<SubjectRequest>>;
    async fn subject_request_audit(&self, workspace_id: WorkspaceId, request_id: &str) -> StoreResult<Vec<AuditEntry>>;
    /// Cancels a pending request.
    async fn cancel_subject_request(
        &self,
        workspace_id: WorkspaceId,
        request_id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<CancelOutcome>;

    /// One stored chunk of a request's export.
    async fn export_chunk(&self, workspace_id: WorkspaceId, request_id: &str, seq: i64)
        -> StoreResult<Option<Vec<u8>>>;

    // The processor's signing identity.
    async fn processor_identity(&self) -> StoreResult<Option<ProcessorIdentity>>;
    /// Saves a sealed key and certificate unless another node saved one
    /// first; returns the one kept.
    async fn save_processor_identity(
        &self,
        key_sealed: &str,
        certificate_pem: &str,
        now: OffsetDateTime,
    ) -> StoreResult<ProcessorIdentity>;
}

// The bounds say what these statements bind and read on `B::Db`; the docs
// of `queries` say why each area repeats its own.
#[async_trait]
impl<B: Backend> SubjectRequestStore for B
where
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::Db>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> String: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Vec<u8>: Decode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<i64>: Encode<'q, B::Db>,
    for<'q> Option<String>: Encode<'q, B::Db>,
    for<'q> Option<&'q str>: Encode<'q, B::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<B>>,
    usize: ColumnIndex<DbRow<B>>,
{
    async fn create_subject_request(&self, new: &NewSubjectRequest) -> StoreResult<CreateOutcome> {
        let ws = new.workspace_id.0;
        let mut tx = self.writer().begin().await?;
        if let Some(conflict) = conflict_of(&mut *tx, new).await? {
            return Ok(conflict);
        }
        let sql = format!(
            "INSERT INTO dsr_requests (workspace_id, request_id, regulation, request_type, status, group_id, \
             api_version, submitted_at_ms, received_at_ms, process_after_ms, expected_completion_ms, suppress, \
             subject_json, subject_keys, overlap_key, callback_urls, next_run_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $9, $8) \
             RETURNING {REQUEST_COLUMNS}"
        );
        let inserted = sqlx::query(&sql)
            .bind(ws)
            .bind(&new.request_id)
            .bind(new.regulation.as_str())
            .bind(new.request_type.as_str())
            .bind(&new.group_id)
            .bind(&new.api_version)
            .bind(new.submitted_at_ms)
            .bind(new.received_at_ms)
            .bind(new.schedule.process_after_ms)
            .bind(new.schedule.expected_completion_ms)
            .bind(i64::from(new.suppress))
            .bind(encode_subject(&new.subject))
            .bind(new.subject_keys.join(","))
            .bind(&new.overlap_key)
            .bind(serde_json::to_string(&new.callback_urls).unwrap_or_else(|_| "[]".into()))
            .fetch_one(&mut *tx)
            .await;
        // Two nodes racing on PostgreSQL: the unique indexes decide, and the
        // row that won is read to say which one refused this request.
        let row = match inserted {
            Ok(row) => row,
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                // The failed statement aborted the transaction on PostgreSQL.
                tx.rollback().await?;
                let mut conn = self.reader().acquire().await?;
                // A request's row is never deleted, so a taken id is found
                // again; an overlapping request may have ended since.
                return Ok(conflict_of(&mut *conn, new).await?.unwrap_or(CreateOutcome::Overlaps));
            }
            Err(other) => return Err(other.into()),
        };
        let request = request_from_row(&row)?;
        let detail = serde_json::json!({
            "identities": new.subject_keys.len(),
            "process_after_ms": new.schedule.process_after_ms,
            "suppress": new.suppress,
            "callback_urls": new.callback_urls.len(),
        });
        audit_in(&mut *tx, ws, &new.request_id, "received", &detail.to_string(), new.received_at_ms).await?;
        if new.schedule.process_after_ms > new.received_at_ms {
            let until = serde_json::json!({ "until_ms": new.schedule.process_after_ms });
            audit_in(&mut *tx, ws, &new.request_id, "waiting", &until.to_string(), new.received_at_ms).await?;
        }
        queue_callbacks(&mut *tx, &request, RequestStatus::Pending, new.received_at_ms).await?;
        tx.commit().await?;
        Ok(CreateOutcome::Created(Box::new(request)))
    }

    async fn subject_request(
        &self,
        workspace_id: WorkspaceId,
        request_id: &str,
    ) -> StoreResult<Option<SubjectRequest>> {
        let mut conn = self.reader().acquire().await?;
        request_in(&mut *conn, workspace_id.0, request_id).await
    }

    async fn subject_requests_in_group(
        &self,
        workspace_id: WorkspaceId,
        group_id: &str,
    ) -> StoreResult<Vec<SubjectRequest>> {
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM dsr_requests WHERE workspace_id = $1 AND group_id = $2 \
             ORDER BY received_at_ms, request_id"
        );
        let rows = sqlx::query(&sql).bind(workspace_id.0).bind(group_id).fetch_all(self.reader()).await?;
        Ok(rows.iter().map(request_from_row).collect::<Result<_, _>>()?)
    }

    async fn list_subject_requests(
        &self,
        workspace_id: Option<WorkspaceId>,
        status: Option<RequestStatus>,
        limit: i64,
    ) -> StoreResult<Vec<SubjectRequest>> {
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM dsr_requests \
             WHERE ($1 IS NULL OR workspace_id = $1) AND ($2 IS NULL OR status = $2) \
             ORDER BY received_at_ms DESC, request_id LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(workspace_id.map(|w| w.0))
            .bind(status.map(|s| s.as_str()))
            .bind(limit)
            .fetch_all(self.reader())
            .await?;
        Ok(rows.iter().map(request_from_row).collect::<Result<_, _>>()?)
    }

    async fn subject_requests_by_id(&self, request_id: &str) -> StoreResult<Vec<SubjectRequest>> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM dsr_requests WHERE request_id = $1 ORDER BY workspace_id");
        let rows = sqlx::query(&sql).bind(request_id).fetch_all(self.reader()).await?;
        Ok(rows.iter().map(request_from_row).collect::<Result<_, _>>()?)
    }

    async fn subject_request_audit(&self, workspace_id: WorkspaceId, request_id: &str) -> StoreResult<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT at_ms, step, detail FROM dsr_audit WHERE workspace_id = $1 AND request_id = $2 ORDER BY id",
        )
        .bind(workspace_id.0)
        .bind(request_id)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    at_ms: row.try_get("at_ms")?,
                    step: row.try_get("step")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect()
    }

    async fn cancel_subject_request(
        &self,
        workspace_id: WorkspaceId,
        request_id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<CancelOutcome> {
        let now_ms = unix_ms(now);
        let ws = workspace_id.0;
        let mut tx = self.writer().begin().await?;
        let sql = format!(
            "UPDATE dsr_requests SET status = 'cancelled', subject_json = NULL, updated_at_ms = $3, \
             completed_at_ms = $3 WHERE workspace_id = $1 AND request_id = $2 AND status = 'pending' \
             AND lease_owner IS NULL RETURNING {REQUEST_COLUMNS}"
        );
        let row = sqlx::query(&sql).bind(ws).bind(request_id).bind(now_ms).fetch_optional(&mut *tx).await?;
        let Some(request) = row.as_ref().map(request_from_row).transpose()? else {
            return Ok(match request_in(&mut *tx, ws, request_id).await? {
                Some(request) => CancelOutcome::TooLate(Box::new(request)),
                None => CancelOutcome::NotFound,
            });
        };
        audit_in(&mut *tx, ws, request_id, "cancelled", "{}", now_ms).await?;
        queue_callbacks(&mut *tx, &request, RequestStatus::Cancelled, now_ms).await?;
        tx.commit().await?;
        Ok(CancelOutcome::Cancelled(Box::new(request)))
    }

    async fn export_chunk(
        &self,
        workspace_id: WorkspaceId,
        request_id: &str,
        seq: i64,
    ) -> StoreResult<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar(
            "SELECT data FROM dsr_export_chunks WHERE workspace_id = $1 AND request_id = $2 AND seq = $3",
        )
        .bind(workspace_id.0)
        .bind(request_id)
        .bind(seq)
        .fetch_optional(self.reader())
        .await?)
    }

    async fn processor_identity(&self) -> StoreResult<Option<ProcessorIdentity>> {
        let row = sqlx::query("SELECT key_sealed, certificate_pem FROM processor_identity WHERE id = 1")
            .fetch_optional(self.reader())
            .await?;
        Ok(row.as_ref().map(processor_identity_from_row).transpose()?)
    }

    async fn save_processor_identity(
        &self,
        key_sealed: &str,
        certificate_pem: &str,
        now: OffsetDateTime,
    ) -> StoreResult<ProcessorIdentity> {
        let now_ms = unix_ms(now);
        let mut tx = self.writer().begin().await?;
        sqlx::query(
            "INSERT INTO processor_identity (id, key_sealed, certificate_pem, created_at_ms) VALUES (1, $1, $2, $3) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(key_sealed)
        .bind(certificate_pem)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        let kept = sqlx::query("SELECT key_sealed, certificate_pem FROM processor_identity WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(processor_identity_from_row(&kept)?)
    }
}

fn processor_identity_from_row<R: Row>(row: &R) -> Result<ProcessorIdentity, sqlx::Error>
where
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    Ok(ProcessorIdentity { key_sealed: row.try_get("key_sealed")?, certificate_pem: row.try_get("certificate_pem")? })
}

/// A request as read from a row of [`REQUEST_COLUMNS`].
pub(crate) fn request_from_row<R: Row>(row: &R) -> Result<SubjectRequest, sqlx::Error>
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    let decode = |column: &str, text: String| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("unknown value `{text}`").into(),
    };
    let regulation: String = row.try_get("regulation")?;
    let request_type: String = row.try_get("request_type")?;
    let status: String = row.try_get("status")?;
    let urls: String = row.try_get("callback_urls")?;
    Ok(SubjectRequest {
        workspace_id: WorkspaceId(row.try_get("workspace_id")?),
        request_id: row.try_get("request_id")?,
        regulation: Regulation::parse(&regulation).ok_or_else(|| decode("regulation", regulation.clone()))?,
        request_type: RequestType::parse(&request_type).ok_or_else(|| decode("request_type", request_type.clone()))?,
        status: RequestStatus::parse(&status).ok_or_else(|| decode("status", status.clone()))?,
        group_id: row.try_get("group_id")?,
        api_version: row.try_get("api_version")?,
        submitted_at_ms: row.try_get("submitted_at_ms")?,
        received_at_ms: row.try_get("received_at_ms")?,
        process_after_ms: row.try_get("process_after_ms")?,
        expected_completion_ms: row.try_get("expected_completion_ms")?,
        suppress: row.try_get::<i64, _>("suppress")? != 0,
        callback_urls: serde_json::from_str(&urls).unwrap_or_default(),
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        failure_reason: row.try_get("failure_reason")?,
        matched_profiles: row.try_get("matched_profiles")?,
        export_bytes: row.try_get("export_bytes")?,
        export_expires_ms: row.try_get("export_expires_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
        completed_at_ms: row.try_get("completed_at_ms")?,
    })
}

/// The request `request_id` of workspace `ws`, if there is one.
pub(crate) async fn request_in<C, Db>(conn: &mut C, ws: i64, request_id: &str) -> StoreResult<Option<SubjectRequest>>
where
    Db: Database,
    for<'c> &'c mut C: Executor<'c, Database = Db>,
    for<'q> Db::Arguments<'q>: IntoArguments<'q, Db>,
    for<'q> i64: Encode<'q, Db> + Decode<'q, Db> + Type<Db>,
    for<'q> String: Decode<'q, Db> + Type<Db>,
    for<'q> &'q str: Encode<'q, Db> + Type<Db>,
    for<'a> &'a str: ColumnIndex<Db::Row>,
{
    let sql = format!("SELECT {REQUEST_COLUMNS} FROM dsr_requests WHERE workspace_id = $1 AND request_id = $2");
    let row = sqlx::query(&sql).bind(ws).bind(request_id).fetch_optional(&mut *conn).await?;
    Ok(row.as_ref().map(request_from_row).transpose()?)
}

/// Why `new` cannot be stored, if a stored request says so: one of the
/// workspace's requests has its id ([`CreateOutcome::AlreadyExists`]), or
/// an open request of the same type names the same identities
/// ([`CreateOutcome::Overlaps`]).
async fn conflict_of<C, Db>(conn: &mut C, new: &NewSubjectRequest) -> StoreResult<Option<CreateOutcome>>
where
    Db: Database,
    for<'c> &'c mut C: Executor<'c, Database = Db>,
    for<'q> Db::Arguments<'q>: IntoArguments<'q, Db>,
    for<'q> i64: Encode<'q, Db> + Decode<'q, Db> + Type<Db>,
    for<'q> String: Encode<'q, Db> + Decode<'q, Db> + Type<Db>,
    for<'q> &'q str: Encode<'q, Db> + Type<Db>,
    for<'a> &'a str: ColumnIndex<Db::Row>,
    usize: ColumnIndex<Db::Row>,
{
    let ws = new.workspace_id.0;
    if request_in(&mut *conn, ws, &new.request_id).await?.is_some() {
        return Ok(Some(CreateOutcome::AlreadyExists));
    }
    let overlapping: Option<String> = sqlx::query_scalar(
        "SELECT request_id FROM dsr_requests WHERE workspace_id = $1 AND overlap_key = $2 \
         AND status IN ('pending', 'in_progress')",
    )
    .bind(ws)
    .bind(&new.overlap_key)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(overlapping.map(|_| CreateOutcome::Overlaps))
}

/// Appends a step to a request's audit trail. `detail` is JSON without personal data.
pub(crate) async fn audit_in<C, Db>(
    conn: &mut C,
    ws: i64,
    request_id: &str,
    step: &str,
    detail: &str,
    now_ms: i64,
) -> StoreResult<()>
where
    Db: Database,
    for<'c> &'c mut C: Executor<'c, Database = Db>,
    for<'q> Db::Arguments<'q>: IntoArguments<'q, Db>,
    for<'q> i64: Encode<'q, Db> + Type<Db>,
    for<'q> &'q str: Encode<'q, Db> + Type<Db>,
{
    sqlx::query("INSERT INTO dsr_audit (workspace_id, request_id, at_ms, step, detail) VALUES ($1, $2, $3, $4, $5)")
        .bind(ws)
        .bind(request_id)
        .bind(now_ms)
        .bind(step)
        .bind(detail)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Queues one callback per URL of the request for its new status.
pub(crate) async fn queue_callbacks<C, Db>(
    conn: &mut C,
    request: &SubjectRequest,
    status: RequestStatus,
    now_ms: i64,
) -> StoreResult<()>
where
    Db: Database,
    for<'c> &'c mut C: Executor<'c, Database = Db>,
    for<'q> Db::Arguments<'q>: IntoArguments<'q, Db>,
    for<'q> i64: Encode<'q, Db> + Type<Db>,
    for<'q> String: Encode<'q, Db> + Type<Db>,
    for<'q> &'q str: Encode<'q, Db> + Type<Db>,
{
    for url in &request.callback_urls {
        sqlx::query(
            "INSERT INTO dsr_callbacks (workspace_id, request_id, url, status, created_at_ms, next_attempt_ms) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(request.workspace_id.0)
        .bind(&request.request_id)
        .bind(url)
        .bind(status.as_str())
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
