//! The DSR worker's side of data subject requests: taking a due request
//! with a lease, the steps of an access export, and ending a request.
//!
//! A worker changes a request only while it holds the request's lease;
//! each change of status, its audit entry and the callbacks it owes are
//! written in one transaction. Erasure, the other step, is `erasure.rs`.

use std::time::Duration;

use async_trait::async_trait;
use custos_core::dsr::{RequestStatus, Subject};
use custos_core::identity::{self, Mpid, RequestKind, Resolution};
use custos_core::ids::WorkspaceId;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use time::OffsetDateTime;

use super::dsr_requests::{audit_in, queue_callbacks, request_from_row, REQUEST_COLUMNS};
use super::identity::{existing_profile, owners_in};
use super::{millis, unix_ms};
use crate::backend::{Args, Backend, Conn, DbRow, RowsAffected};
use crate::dsr_model::decode_subject;
use crate::{ClaimedRequest, ExportDone, Phase, StoreError, StoreResult, SubjectRequest};

/// A request is due when it is open, its time has come and no live worker holds it.
const DUE: &str = "status IN ('pending', 'in_progress') AND next_run_ms <= $1 \
     AND (lease_until_ms IS NULL OR lease_until_ms <= $1)";

/// What the worker does to the requests it takes.
#[async_trait]
pub trait DsrWorkerStore: Send + Sync {
    /// Takes the lease of one request that is due: pending and past its
    /// waiting period (it becomes in progress), or in progress with an
    /// expired lease (a worker died), or waiting for a retry.
    async fn claim_subject_request(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease: Duration,
    ) -> StoreResult<Option<ClaimedRequest>>;
    /// Extends a held lease; false if it was lost.
    async fn renew_subject_request_lease(
        &self,
        workspace_id: WorkspaceId,
        request_id: &str,
        owner: &str,
        until: OffsetDateTime,
    ) -> StoreResult<bool>;
    async fn audit_subject_request(
        &self,
        workspace_id: WorkspaceId,
        request_id: &str,
        step: &str,
        detail: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Resolves the subject of an access request, records the profiles
    /// reached and drops any partial export of an earlier attempt.
    async fn begin_export(
        &self,
        workspace_id: WorkspaceId,
        request_id: &str,
        owner: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Mpid>>;
    async fn put_export_chunk(
        &self,
        workspace_id: WorkspaceId,
        request_id: &str,
        seq: i64,
        data: &[u8],
    ) -> StoreResult<()>;
    /// Completes a request the worker holds; the identities are dropped.
    async fn complete_subject_request(
        &self,
        workspace_id: WorkspaceId,
        request_id: &str,
        owner: &str,
        matched_profiles: i64,
        export: Option<ExportDone>,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Records a failed attempt; the request runs again at `next_run`.
    async fn retry_subject_request(
        &self,
        workspace_id: WorkspaceId,
        request_id: &str,
        owner: &str,
        error: &str,
        next_run: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Ends a request that cannot complete; the identities are dropped.
    async fn fail_subject_request(
        &self,
        workspace_id: WorkspaceId,
        request_id: &str,
        owner: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Deletes the chunks of exports past their expiry. Returns how many.
    async fn expire_exports(&self, now: OffsetDateTime) -> StoreResult<u64>;
}

// The bounds say what these statements bind and read on `B::Db`; the docs
// of `queries` say why each area repeats its own.
#[async_trait]
impl<B: Backend> DsrWorkerStore for B
where
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::Db>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> String: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q [u8]: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<i64>: Encode<'q, B::Db>,
    for<'q> Option<&'q str>: Encode<'q, B::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<B>>,
    usize: ColumnIndex<DbRow<B>>,
{
    async fn claim_subject_request(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease: Duration,
    ) -> StoreResult<Option<ClaimedRequest>> {
        let (now_ms, lease_ms) = (unix_ms(now), millis(lease));
        let mut tx = self.writer().begin().await?;
        // On PostgreSQL another node may claim the candidate between
        // the two statements: the UPDATE repeats the due conditions,
        // and a candidate lost that way is followed by the next one.
        let mut attempts = 0;
        let (ws, request_id, was, row) = loop {
            attempts += 1;
            let candidate = sqlx::query(&format!(
                "SELECT workspace_id, request_id, status FROM dsr_requests WHERE {DUE} ORDER BY next_run_ms LIMIT 1"
            ))
            .bind(now_ms)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(candidate) = candidate else { return Ok(None) };
            let ws: i64 = candidate.try_get(0)?;
            let request_id: String = candidate.try_get(1)?;
            let was: String = candidate.try_get(2)?;
            let sql = format!(
                "UPDATE dsr_requests SET status = 'in_progress', lease_owner = $4, lease_until_ms = $5, \
                 attempts = attempts + 1, updated_at_ms = $1 \
                 WHERE workspace_id = $2 AND request_id = $3 AND {DUE} \
                 RETURNING {REQUEST_COLUMNS}, subject_json, phase"
            );
            let claimed = sqlx::query(&sql)
                .bind(now_ms)
                .bind(ws)
                .bind(&request_id)
                .bind(owner)
                .bind(now_ms.saturating_add(lease_ms))
                .fetch_optional(&mut *tx)
                .await?;
            match claimed {
                Some(row) => break (ws, request_id, was, row),
                None if attempts < 8 => continue,
                None => return Ok(None),
            }
        };
        let request = request_from_row(&row)?;
        let subject = row.try_get::<Option<String>, _>("subject_json")?.as_deref().and_then(decode_subject);
        let phase = row.try_get::<Option<String>, _>("phase")?.as_deref().and_then(Phase::parse);
        if was == "pending" {
            audit_in(&mut *tx, ws, &request_id, "processing", "{}", now_ms).await?;
            queue_callbacks(&mut *tx, &request, RequestStatus::InProgress, now_ms).await?;
        } else {
            let detail = serde_json::json!({ "attempt": request.attempts });
            audit_in(&mut *tx, ws, &request_id, "resumed", &detail.to_string(), now_ms).await?;
        }
        tx.commit().await?;
        Ok(Some(ClaimedRequest { request, subject, phase }))
    }

    async fn renew_subject_request_lease(
        &self,
        workspace_id: WorkspaceId,
        request_id: &str,
        owner: &str,
        until: OffsetDateTime,
    ) -> StoreResult<bool> {
        let until_ms = unix_ms(until);
        let done = sqlx::query(
            "UPDATE dsr_requests SET lease_until_ms = $4 WHERE workspace_id = $1 AND request_id = $2 \
             AND lease_owner = $3 AND status = 'in_progress'",
        )
        .bind(workspace_id.0)
        .bind(request_id)
        .bind(owner)
        .bind(until_ms)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn audit_subject_request(
        &self,
        workspace_id: WorkspaceId,
        request_id: &str,
        step: &str,
        detail: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let now_ms = unix_ms(now);
        let mut conn = self.writer().acquire().await?;
        audit_in(&mut *conn, workspace_id.0, request_id, step, detail, now_ms).await
    }

    async fn begin_export(
        &self,
        workspace_id: WorkspaceId,
        request_id: &str,
        owner: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Mpid>> {
        let now_ms = unix_ms(now);
        let ws = workspace_id.0;
        let mut tx = self.writer().begin().await?;
        let subject = held_subject(&mut *tx, ws, request_id, owner).await?;
        let profiles = match &subject {
            Some(subject) => subject_profiles(&mut *tx, B::NUMBERED_PLACEHOLDERS, ws, subject).await?,
            None => Vec::new(),
        };
        for table in ["dsr_export_chunks", "dsr_request_profiles"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE workspace_id = $1 AND request_id = $2"))
                .bind(ws)
                .bind(request_id)
                .execute(&mut *tx)
                .await?;
        }
        for mpid in &profiles {
            sqlx::query("INSERT INTO dsr_request_profiles (workspace_id, request_id, mpid) VALUES ($1, $2, $3)")
                .bind(ws)
                .bind(request_id)
                .bind(mpid.0)
                .execute(&mut *tx)
                .await?;
        }
        let resolved = serde_json::json!({ "profiles": profiles.len() });
        audit_in(&mut *tx, ws, request_id, "identities_resolved", &resolved.to_string(), now_ms).await?;
        tx.commit().await?;
        Ok(profiles)
    }

    async fn put_export_chunk(
        &self,
        workspace_id: WorkspaceId,
        request_id: &str,
        seq: i64,
        data: &[u8],
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO dsr_export_chunks (workspace_id, request_id, seq, data) VALUES ($1, $2, $3, $4)")
            .bind(workspace_id.0)
            .bind(request_id)
            .bind(seq)
            .bind(data)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    async fn complete_subject_request(
        &self,
        workspace_id: WorkspaceId,
        request_id: &str,
        owner: &str,
        matched_profiles: i64,
        export: Option<ExportDone>,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let now_ms = unix_ms(now);
        let ws = workspace_id.0;
        let mut tx = self.writer().begin().await?;
        sqlx::query(
            "UPDATE dsr_requests SET matched_profiles = $4, export_bytes = $5, export_expires_ms = $6 \
             WHERE workspace_id = $1 AND request_id = $2 AND lease_owner = $3",
        )
        .bind(ws)
        .bind(request_id)
        .bind(owner)
        .bind(matched_profiles)
        .bind(export.map(|e| e.export_bytes))
        .bind(export.map(|e| e.expires_at_ms))
        .execute(&mut *tx)
        .await?;
        if let Some(export) = export {
            let detail = serde_json::json!({ "profiles": matched_profiles, "bytes": export.export_bytes });
            audit_in(&mut *tx, ws, request_id, "exported", &detail.to_string(), now_ms).await?;
        }
        let done = finish_held(&mut *tx, ws, request_id, owner, RequestStatus::Completed, None, now_ms).await?;
        tx.commit().await?;
        Ok(done.is_some())
    }

    async fn retry_subject_request(
        &self,
        workspace_id: WorkspaceId,
        request_id: &str,
        owner: &str,
        error: &str,
        next_run: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let (next_run_ms, now_ms) = (unix_ms(next_run), unix_ms(now));
        let mut tx = self.writer().begin().await?;
        let done = sqlx::query(
            "UPDATE dsr_requests SET last_error = $4, next_run_ms = $5, lease_owner = NULL, \
             lease_until_ms = NULL, updated_at_ms = $6 \
             WHERE workspace_id = $1 AND request_id = $2 AND lease_owner = $3 AND status = 'in_progress'",
        )
        .bind(workspace_id.0)
        .bind(request_id)
        .bind(owner)
        .bind(error)
        .bind(next_run_ms)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let detail = serde_json::json!({ "error": error, "next_attempt_ms": next_run_ms });
        audit_in(&mut *tx, workspace_id.0, request_id, "attempt_failed", &detail.to_string(), now_ms).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn fail_subject_request(
        &self,
        workspace_id: WorkspaceId,
        request_id: &str,
        owner: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let now_ms = unix_ms(now);
        let mut tx = self.writer().begin().await?;
        let done =
            finish_held(&mut *tx, workspace_id.0, request_id, owner, RequestStatus::Failed, Some(reason), now_ms)
                .await?;
        tx.commit().await?;
        Ok(done.is_some())
    }

    async fn expire_exports(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let now_ms = unix_ms(now);
        let done = sqlx::query(
            "DELETE FROM dsr_export_chunks WHERE (workspace_id, request_id) IN \
             (SELECT workspace_id, request_id FROM dsr_requests \
              WHERE export_expires_ms IS NOT NULL AND export_expires_ms <= $1)",
        )
        .bind(now_ms)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected())
    }
}

/// The profiles a subject reaches. Each identity is looked up alone,
/// as the Identity API's search would: a user identity reaches its
/// holder, a device identity never reaches a profile with a login ID.
pub(crate) async fn subject_profiles<C, Db>(
    conn: &mut C,
    numbered_placeholders: bool,
    ws: i64,
    subject: &Subject,
) -> StoreResult<Vec<Mpid>>
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
    let mut found: Vec<Mpid> = Vec::new();
    match subject {
        Subject::Mpid(mpid) => {
            if existing_profile(&mut *conn, ws, *mpid).await?.is_some() {
                found.push(*mpid);
            }
        }
        Subject::Identities(identities) => {
            let owners = owners_in(&mut *conn, numbered_placeholders, ws, identities).await?;
            for identity in identities {
                let single = std::slice::from_ref(identity);
                if let Resolution::Existing { mpid, .. } =
                    identity::resolve(RequestKind::Search, single, &|i| owners.get(i).cloned(), None)
                {
                    if !found.contains(&mpid) {
                        found.push(mpid);
                    }
                }
            }
        }
    }
    Ok(found)
}

/// The held request's stored subject, or `NotFound` if the lease is lost.
pub(crate) async fn held_subject<C, Db>(
    conn: &mut C,
    ws: i64,
    request_id: &str,
    owner: &str,
) -> StoreResult<Option<Subject>>
where
    Db: Database,
    for<'c> &'c mut C: Executor<'c, Database = Db>,
    for<'q> Db::Arguments<'q>: IntoArguments<'q, Db>,
    for<'q> i64: Encode<'q, Db> + Type<Db>,
    for<'q> String: Decode<'q, Db> + Type<Db>,
    for<'q> &'q str: Encode<'q, Db> + Type<Db>,
    usize: ColumnIndex<Db::Row>,
{
    let row = sqlx::query(
        "SELECT subject_json FROM dsr_requests WHERE workspace_id = $1 AND request_id = $2 \
         AND lease_owner = $3 AND status = 'in_progress'",
    )
    .bind(ws)
    .bind(request_id)
    .bind(owner)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    Ok(row.try_get::<Option<String>, _>(0)?.as_deref().and_then(decode_subject))
}

/// Ends a held request: status, audit entry, callbacks; its identities are dropped.
async fn finish_held<C, Db>(
    conn: &mut C,
    ws: i64,
    request_id: &str,
    owner: &str,
    status: RequestStatus,
    failure_reason: Option<&str>,
    now_ms: i64,
) -> StoreResult<Option<SubjectRequest>>
where
    Db: Database,
    for<'c> &'c mut C: Executor<'c, Database = Db>,
    for<'q> Db::Arguments<'q>: IntoArguments<'q, Db>,
    for<'q> i64: Encode<'q, Db> + Decode<'q, Db> + Type<Db>,
    for<'q> String: Encode<'q, Db> + Decode<'q, Db> + Type<Db>,
    for<'q> &'q str: Encode<'q, Db> + Type<Db>,
    for<'q> Option<&'q str>: Encode<'q, Db>,
    for<'a> &'a str: ColumnIndex<Db::Row>,
{
    let sql = format!(
        "UPDATE dsr_requests SET status = $4, failure_reason = $5, subject_json = NULL, lease_owner = NULL, \
         lease_until_ms = NULL, updated_at_ms = $6, completed_at_ms = $6 \
         WHERE workspace_id = $1 AND request_id = $2 AND lease_owner = $3 AND status = 'in_progress' \
         RETURNING {REQUEST_COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(ws)
        .bind(request_id)
        .bind(owner)
        .bind(status.as_str())
        .bind(failure_reason)
        .bind(now_ms)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(request) = row.as_ref().map(request_from_row).transpose()? else { return Ok(None) };
    let detail = match failure_reason {
        Some(reason) => serde_json::json!({ "reason": reason }).to_string(),
        None => "{}".to_owned(),
    };
    audit_in(&mut *conn, ws, request_id, status.as_str(), &detail, now_ms).await?;
    queue_callbacks(&mut *conn, &request, status, now_ms).await?;
    Ok(Some(request))
}
