//! Batches and events: storing groups of event batches (each backend runs
//! `group_ingest` its own way), reading a profile's batches back, and the
//! counts of what is stored.

use async_trait::async_trait;
use custos_core::identity::Mpid;
use custos_core::ids::WorkspaceId;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Row, Type};

use crate::backend::{Args, Backend, Conn, DbRow};
use crate::{batch_body, Counts, IncomingBatch, IngestOutcome, Stats, StoreResult, StoredBatch, WorkspaceCounts};

/// The event batches the platform keeps.
#[async_trait]
pub trait BatchStore: Send + Sync {
    /// Stores batches in one transaction: every batch is resolved to a
    /// profile, its identities, attributes and consent land there, and the
    /// batch is kept. Durable when this returns.
    async fn ingest_batches(&self, batches: &[IncomingBatch]) -> StoreResult<Vec<IngestOutcome>> {
        let outcomes = self.commit_batches(batches).await?;
        self.sync_batches().await?;
        Ok(outcomes)
    }
    /// [`BatchStore::ingest_batches`] up to its commit, which may not be on
    /// disk yet: see [`BatchStore::sync_batches`]. Callers commit one group
    /// at a time (the server's ingestor does): on PostgreSQL, two concurrent
    /// groups could each create a profile for the same new identity.
    async fn commit_batches(&self, batches: &[IncomingBatch]) -> StoreResult<Vec<IngestOutcome>>;
    /// Returns once every `commit_batches` that returned before this call
    /// is durable. One flush covers every commit made before it starts, so
    /// a group commit can hand this off and commit the next group meanwhile.
    async fn sync_batches(&self) -> StoreResult<()>;

    /// Up to `limit` of a profile's batches stored after batch `after_id`, in order.
    async fn batch_page(
        &self,
        workspace_id: WorkspaceId,
        mpid: Mpid,
        after_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<StoredBatch>>;

    async fn stats(&self) -> StoreResult<Stats>;
}

// The bounds say what these statements bind and read on `B::Db`; the docs
// of `queries` say why each area repeats its own.
#[async_trait]
impl<B: Backend> BatchStore for B
where
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::Db>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> Vec<u8>: Decode<'q, B::Db> + Type<B::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<B>>,
{
    async fn commit_batches(&self, batches: &[IncomingBatch]) -> StoreResult<Vec<IngestOutcome>> {
        // Each backend drives `group_ingest::GroupIngest` its own way.
        self.commit_group(batches).await
    }

    async fn sync_batches(&self) -> StoreResult<()> {
        self.sync_groups().await
    }

    async fn batch_page(
        &self,
        workspace_id: WorkspaceId,
        mpid: Mpid,
        after_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<StoredBatch>> {
        let rows = sqlx::query(
            "SELECT id, body FROM batches WHERE workspace_id = $1 AND mpid = $2 AND id > $3 ORDER BY id LIMIT $4",
        )
        .bind(workspace_id.0)
        .bind(mpid.0)
        .bind(after_id)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| Ok(StoredBatch { id: row.try_get("id")?, body: batch_body::decode(row.try_get("body")?)? }))
            .collect()
    }

    async fn stats(&self) -> StoreResult<Stats> {
        let rows = sqlx::query(
            "SELECT w.id, \
               (SELECT COUNT(*) FROM batches b WHERE b.workspace_id = w.id) AS batches, \
               (SELECT CAST(COALESCE(SUM(b.event_count), 0) AS BIGINT) FROM batches b \
                WHERE b.workspace_id = w.id) AS events, \
               (SELECT COUNT(*) FROM profiles p WHERE p.workspace_id = w.id) AS profiles \
             FROM workspaces w ORDER BY w.id",
        )
        .fetch_all(self.reader())
        .await?;
        let mut stats = Stats::default();
        for row in rows {
            let counts = Counts {
                batches: row.try_get("batches")?,
                events: row.try_get("events")?,
                profiles: row.try_get("profiles")?,
            };
            stats.totals.batches += counts.batches;
            stats.totals.events += counts.events;
            stats.totals.profiles += counts.profiles;
            stats.workspaces.push(WorkspaceCounts { workspace_id: WorkspaceId(row.try_get("id")?), counts });
        }
        Ok(stats)
    }
}
