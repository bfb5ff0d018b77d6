//! Status callbacks: the outbox (`dsr_callbacks`) that every change of a
//! request's status fills, delivered in order per request and URL.

use std::time::Duration;

use async_trait::async_trait;
use custos_core::dsr::RequestStatus;
use custos_core::ids::WorkspaceId;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Row, Type};
use time::OffsetDateTime;

use super::dsr_requests::audit_in;
use super::{millis, unix_ms};
use crate::backend::{Args, Backend, Conn, DbRow};
use crate::{CallbackDelivery, CallbackResult, StoreResult};

/// The callbacks owed to data subject requests' callback URLs.
#[async_trait]
pub trait CallbackStore: Send + Sync {
    /// Takes up to `limit` due callbacks for `lease`: for each request and
    /// URL only the oldest one owed, so statuses arrive in order.
    async fn claim_callbacks(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: i64,
    ) -> StoreResult<Vec<CallbackDelivery>>;
    async fn finish_callback(
        &self,
        delivery: &CallbackDelivery,
        result: &CallbackResult,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
}

// The bounds say what these statements bind and read on `B::Db`; the docs
// of `queries` say why each area repeats its own.
#[async_trait]
impl<B: Backend> CallbackStore for B
where
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::Db>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> String: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<i64>: Encode<'q, B::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<B>>,
    usize: ColumnIndex<DbRow<B>>,
{
    async fn claim_callbacks(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: i64,
    ) -> StoreResult<Vec<CallbackDelivery>> {
        let (now_ms, lease_ms) = (unix_ms(now), millis(lease));
        // Due, not leased, and the oldest still owed to its URL for its request.
        let due = "done_at_ms IS NULL AND next_attempt_ms <= $1 AND (lease_until_ms IS NULL OR lease_until_ms <= $1) \
             AND NOT EXISTS (SELECT 1 FROM dsr_callbacks earlier WHERE earlier.workspace_id = dsr_callbacks.workspace_id \
             AND earlier.request_id = dsr_callbacks.request_id AND earlier.url = dsr_callbacks.url \
             AND earlier.done_at_ms IS NULL AND earlier.id < dsr_callbacks.id)";
        let mut tx = self.writer().begin().await?;
        let ids: Vec<i64> =
            sqlx::query_scalar(&format!("SELECT id FROM dsr_callbacks WHERE {due} ORDER BY next_attempt_ms LIMIT $2"))
                .bind(now_ms)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
        let mut claimed = Vec::with_capacity(ids.len());
        for id in ids {
            let row = sqlx::query(&format!(
                "UPDATE dsr_callbacks SET lease_until_ms = $3, attempts = attempts + 1 WHERE id = $2 AND {due} \
                 RETURNING id, workspace_id, request_id, url, status, attempts, created_at_ms"
            ))
            .bind(now_ms)
            .bind(id)
            .bind(now_ms.saturating_add(lease_ms))
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else { continue };
            let status: String = row.try_get("status")?;
            claimed.push(CallbackDelivery {
                id: row.try_get("id")?,
                workspace_id: WorkspaceId(row.try_get("workspace_id")?),
                request_id: row.try_get("request_id")?,
                url: row.try_get("url")?,
                status: RequestStatus::parse(&status).unwrap_or(RequestStatus::Pending),
                attempts: row.try_get("attempts")?,
                created_at_ms: row.try_get("created_at_ms")?,
            });
        }
        tx.commit().await?;
        Ok(claimed)
    }

    async fn finish_callback(
        &self,
        delivery: &CallbackDelivery,
        result: &CallbackResult,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let now_ms = unix_ms(now);
        let mut tx = self.writer().begin().await?;
        let (done_at, next_attempt) = match result {
            CallbackResult::Retry { next_attempt_ms, .. } => (None, *next_attempt_ms),
            _ => (Some(now_ms), now_ms),
        };
        sqlx::query(
            "UPDATE dsr_callbacks SET done_at_ms = $2, next_attempt_ms = $3, lease_until_ms = NULL WHERE id = $1",
        )
        .bind(delivery.id)
        .bind(done_at)
        .bind(next_attempt)
        .execute(&mut *tx)
        .await?;
        let status = delivery.status.wire_name();
        let attempt = delivery.attempts;
        let (step, detail) = match result {
            CallbackResult::Delivered { http_status } => (
                "callback_answered",
                serde_json::json!({ "status": status, "http_status": http_status, "attempt": attempt }),
            ),
            CallbackResult::Retry { error, .. } => {
                ("callback_attempted", serde_json::json!({ "status": status, "error": error, "attempt": attempt }))
            }
            CallbackResult::GaveUp { error } => {
                ("callback_abandoned", serde_json::json!({ "status": status, "error": error, "attempt": attempt }))
            }
        };
        audit_in(&mut *tx, delivery.workspace_id.0, &delivery.request_id, step, &detail.to_string(), now_ms).await?;
        tx.commit().await?;
        Ok(())
    }
}
