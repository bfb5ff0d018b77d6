//! Erasure: deleting the whole record of a data subject, making it
//! unrecoverable from the files, and suppressing the subject's later data.
//!
//! An erasure resolves the subject as the Identity API's search would, then
//! deletes every row of every profile reached and every export made for
//! them, and replaces the request's identities with keyed hashes, in one
//! transaction. What remains of the subject is hashes (`dsr_suppressions`).

use std::collections::HashSet;

use async_trait::async_trait;
use custos_core::dsr::{Subject, Trace};
use custos_core::identity::{Identity, IdentityType};
use custos_core::ids::WorkspaceId;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use time::OffsetDateTime;

use super::dsr_requests::audit_in;
use super::dsr_worker::{held_subject, subject_profiles};
use super::unix_ms;
use crate::backend::{Args, Backend, Conn, DbRow, RowsAffected};
use crate::group_ingest::{placeholders, statement_chunks, SUPPRESSED_JOIN};
use crate::{ErasureReport, Phase, StoreResult};

/// Hashes a trace of a subject with the server's key (the store never sees it).
pub type TraceHasher<'a> = &'a (dyn Fn(Trace<'_>) -> String + Sync);

/// Erasing data subjects and what remains of them afterwards.
#[async_trait]
pub trait ErasureStore: Send + Sync {
    /// Deletes the whole record of every profile the request's subject
    /// reaches, and the exports made for them; replaces the request's
    /// identities with their hashes; suppresses the subject's identities if
    /// asked. One transaction.
    async fn erase_subject(
        &self,
        workspace_id: WorkspaceId,
        request_id: &str,
        owner: &str,
        hasher: TraceHasher<'_>,
        now: OffsetDateTime,
    ) -> StoreResult<ErasureReport>;
    /// Makes deleted data unrecoverable from the database files: on SQLite,
    /// moves the WAL into the (securely deleting) database and truncates it.
    async fn purge_deleted_data(&self) -> StoreResult<()>;

    /// Whether any of these keyed hashes belongs to a suppressed subject.
    async fn suppressed(&self, workspace_id: WorkspaceId, keys: &[String]) -> StoreResult<bool>;
}

// The bounds say what these statements bind and read on `B::Db`; the docs
// of `queries` say why each area repeats its own.
#[async_trait]
impl<B: Backend> ErasureStore for B
where
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::Db>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> String: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<B>>,
    usize: ColumnIndex<DbRow<B>>,
{
    async fn erase_subject(
        &self,
        workspace_id: WorkspaceId,
        request_id: &str,
        owner: &str,
        hasher: TraceHasher<'_>,
        now: OffsetDateTime,
    ) -> StoreResult<ErasureReport> {
        let now_ms = unix_ms(now);
        let ws = workspace_id.0;
        let mut tx = self.writer().begin().await?;
        let subject = held_subject(&mut *tx, ws, request_id, owner).await?;
        let suppress: i64 =
            sqlx::query_scalar("SELECT suppress FROM dsr_requests WHERE workspace_id = $1 AND request_id = $2")
                .bind(ws)
                .bind(request_id)
                .fetch_one(&mut *tx)
                .await?;
        let profiles = match &subject {
            Some(subject) => subject_profiles(&mut *tx, B::NUMBERED_PLACEHOLDERS, ws, subject).await?,
            None => Vec::new(),
        };
        let mut report = ErasureReport::default();
        let mut traces: Vec<String> = Vec::new();
        if let Some(Subject::Identities(identities)) = &subject {
            traces.extend(identities.iter().map(|i| hasher(Trace::Identity(i))));
        }
        for mpid in &profiles {
            let m = mpid.0;
            traces.push(hasher(Trace::Mpid(*mpid)));
            let held: Vec<(String, String)> = sqlx::query_as(
                "SELECT identity_type, value FROM profile_identities WHERE workspace_id = $1 AND mpid = $2",
            )
            .bind(ws)
            .bind(m)
            .fetch_all(&mut *tx)
            .await?;
            for (kind, value) in &held {
                if let Ok(kind) = IdentityType::parse(kind) {
                    traces.push(hasher(Trace::Identity(&Identity::new(kind, value.clone()))));
                }
            }
            let events: i64 = sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(event_count), 0) AS BIGINT) FROM batches \
                 WHERE workspace_id = $1 AND mpid = $2",
            )
            .bind(ws)
            .bind(m)
            .fetch_one(&mut *tx)
            .await?;
            report.events += events as u64;
            let delete = |table: &'static str| format!("DELETE FROM {table} WHERE workspace_id = $1 AND mpid = $2");
            report.batches += sqlx::query(&delete("batches")).bind(ws).bind(m).execute(&mut *tx).await?.rows_affected();
            report.identities +=
                sqlx::query(&delete("profile_identities")).bind(ws).bind(m).execute(&mut *tx).await?.rows_affected();
            report.attributes +=
                sqlx::query(&delete("profile_attributes")).bind(ws).bind(m).execute(&mut *tx).await?.rows_affected();
            report.consent +=
                sqlx::query(&delete("profile_consent")).bind(ws).bind(m).execute(&mut *tx).await?.rows_affected();
            report.profiles +=
                sqlx::query(&delete("profiles")).bind(ws).bind(m).execute(&mut *tx).await?.rows_affected();
            // Exports made for this profile by earlier requests go too; their results now answer 410.
            let exported: Vec<String> =
                sqlx::query_scalar("SELECT request_id FROM dsr_request_profiles WHERE workspace_id = $1 AND mpid = $2")
                    .bind(ws)
                    .bind(m)
                    .fetch_all(&mut *tx)
                    .await?;
            for other in &exported {
                report.export_chunks +=
                    sqlx::query("DELETE FROM dsr_export_chunks WHERE workspace_id = $1 AND request_id = $2")
                        .bind(ws)
                        .bind(other)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                sqlx::query(
                    "UPDATE dsr_requests SET export_expires_ms = $3 WHERE workspace_id = $1 AND request_id = $2 \
                     AND export_expires_ms IS NOT NULL AND export_expires_ms > $3",
                )
                .bind(ws)
                .bind(other)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(&delete("dsr_request_profiles")).bind(ws).bind(m).execute(&mut *tx).await?;
        }
        if suppress != 0 {
            traces.sort();
            traces.dedup();
            for key in &traces {
                report.suppressed_identities += sqlx::query(
                    "INSERT INTO dsr_suppressions (workspace_id, key, created_at_ms) VALUES ($1, $2, $3) \
                     ON CONFLICT (workspace_id, key) DO NOTHING",
                )
                .bind(ws)
                .bind(key)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
        }
        sqlx::query(
            "UPDATE dsr_requests SET subject_json = NULL, phase = $3, matched_profiles = $4, updated_at_ms = $5 \
             WHERE workspace_id = $1 AND request_id = $2",
        )
        .bind(ws)
        .bind(request_id)
        .bind(Phase::Erased.as_str())
        .bind(profiles.len() as i64)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        let resolved = serde_json::json!({ "profiles": profiles.len() });
        audit_in(&mut *tx, ws, request_id, "identities_resolved", &resolved.to_string(), now_ms).await?;
        let erased = serde_json::json!({
            "profiles": report.profiles, "identities": report.identities, "attributes": report.attributes,
            "consent": report.consent, "batches": report.batches, "events": report.events,
            "export_chunks": report.export_chunks, "suppressed_identities": report.suppressed_identities,
        });
        audit_in(&mut *tx, ws, request_id, "erased", &erased.to_string(), now_ms).await?;
        tx.commit().await?;
        Ok(report)
    }

    async fn purge_deleted_data(&self) -> StoreResult<()> {
        // Each backend keeps old row versions its own way.
        self.purge_old_versions().await
    }

    async fn suppressed(&self, workspace_id: WorkspaceId, keys: &[String]) -> StoreResult<bool> {
        if keys.is_empty() {
            return Ok(false);
        }
        let mut conn = self.reader().acquire().await?;
        Ok(!suppressed_in(&mut *conn, B::NUMBERED_PLACEHOLDERS, &[(workspace_id.0, keys)]).await?.is_empty())
    }
}

/// Which of the keys (per workspace) are suppressed.
async fn suppressed_in<C, Db>(
    conn: &mut C,
    numbered_placeholders: bool,
    keys: &[(i64, &[String])],
) -> StoreResult<HashSet<(i64, String)>>
where
    Db: Database,
    for<'c> &'c mut C: Executor<'c, Database = Db>,
    for<'q> Db::Arguments<'q>: IntoArguments<'q, Db>,
    for<'q> i64: Encode<'q, Db> + Decode<'q, Db> + Type<Db>,
    for<'q> String: Encode<'q, Db> + Decode<'q, Db> + Type<Db>,
    usize: ColumnIndex<Db::Row>,
{
    let wanted: Vec<(i64, &String)> = keys.iter().flat_map(|(ws, keys)| keys.iter().map(move |k| (*ws, k))).collect();
    let mut found = HashSet::new();
    for chunk in statement_chunks(&wanted) {
        let sql = SUPPRESSED_JOIN.replacen("{}", &placeholders(chunk.len(), 2, numbered_placeholders), 1);
        let mut query = sqlx::query(&sql);
        for (ws, key) in chunk {
            query = query.bind(*ws).bind(*key);
        }
        for row in query.fetch_all(&mut *conn).await? {
            found.insert((row.try_get(0)?, row.try_get(1)?));
        }
    }
    Ok(found)
}
