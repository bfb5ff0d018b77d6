//! The workflow around requests: decided changes written atomically with
//! their effects (links, mail, jobs started, audit lines), subjects' links,
//! the timers and notices the sweep looks for, the outbox, and the report.
//!
//! **Invariant:** a change is written only if the request is still in the
//! status it was decided from (compare and set, under the request's lock),
//! so two people acting at once never both win.

use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use time::OffsetDateTime;

use super::backend::{Backend, Conn, DbRow};
use super::columns::{from_ms, ms};
use super::requests::{audit, recompute_status, request_from_row, LOCK_REQUEST, REQUEST_COLUMNS};
use super::{
    NewMail, NewSubjectLink, RequestChange, RequestRecord, StoreError, StoreResult, StoredMail, SubjectLink,
    SubjectLinkPurpose,
};
use crate::domain::request::RequestStatus;

#[async_trait]
pub trait WorkflowStore: Send + Sync {
    /// Writes `change` if the request is in `change.from`; returns whether it was.
    async fn change_request(&self, change: RequestChange, now: OffsetDateTime) -> StoreResult<bool>;
    /// Adds a line to a request's trail (a download, say), changing nothing else.
    async fn note(&self, request_id: &str, actor: Option<&str>, event: &str, now: OffsetDateTime) -> StoreResult<()>;
    /// The request's newest link of `purpose`.
    async fn latest_link(&self, request_id: &str, purpose: SubjectLinkPurpose) -> StoreResult<Option<SubjectLink>>;
    async fn subject_link(&self, digest: &str) -> StoreResult<Option<SubjectLink>>;
    /// Counts a use of a usable link and records `event` in its request's
    /// trail. `None` when it is unknown; the link as it was otherwise, and
    /// whether this use was counted.
    async fn use_link(
        &self,
        digest: &str,
        event: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<(SubjectLink, bool)>>;
    /// Requests whose timer is due: a verification or download link expired,
    /// or a package ready to be delivered.
    async fn due_timers(&self, now: OffsetDateTime, limit: i64) -> StoreResult<Vec<RequestRecord>>;
    /// Open requests due within `soon` that have not had that notice, open
    /// requests past their deadline without the overdue one, and failed
    /// requests without theirs.
    async fn notice_candidates(&self, now: OffsetDateTime, soon: time::Duration) -> StoreResult<Vec<RequestRecord>>;
    /// Requests received in `[from, to)`, oldest first.
    async fn requests_received(&self, from: OffsetDateTime, to: OffsetDateTime) -> StoreResult<Vec<RequestRecord>>;
    /// Open requests and completed ones: what the summary counts.
    async fn requests_to_summarize(&self) -> StoreResult<Vec<RequestRecord>>;

    /// Mail not sent yet, oldest first.
    async fn unsent_mail(&self, limit: i64) -> StoreResult<Vec<StoredMail>>;
    /// Unsent mail whose next attempt is due.
    async fn due_mail(&self, now: OffsetDateTime, limit: i64) -> StoreResult<Vec<StoredMail>>;
    /// Marks a message sent (by SMTP, or by hand by `by`). Returns whether it was unsent.
    async fn mail_sent(&self, id: i64, by: Option<&str>, now: OffsetDateTime) -> StoreResult<bool>;
    /// Records a failed attempt, and when to try again.
    async fn mail_failed(&self, id: i64, error: &str, next_attempt_at: OffsetDateTime) -> StoreResult<()>;
    /// Queues mail outside any request (an operator's).
    async fn queue_mail(&self, mail: Vec<NewMail>, now: OffsetDateTime) -> StoreResult<()>;
}

/// Issues a link for the request, revoking its unused links of the same purpose.
pub(super) async fn issue_link<B: Backend>(
    conn: &mut Conn<B>,
    request_id: &str,
    link: &NewSubjectLink,
    now: i64,
) -> StoreResult<()>
where
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
{
    sqlx::query(
        "UPDATE subject_links SET revoked_at = $3 WHERE request_id = $1 AND purpose = $2 AND revoked_at IS NULL",
    )
    .bind(request_id)
    .bind(link.purpose.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO subject_links (digest, request_id, purpose, created_at, expires_at, max_uses) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(link.digest.as_str())
    .bind(request_id)
    .bind(link.purpose.as_str())
    .bind(now)
    .bind(ms(link.expires_at))
    .bind(link.max_uses)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Queues messages, due at once.
pub(super) async fn queue_mail<B: Backend>(
    conn: &mut Conn<B>,
    request_id: Option<&str>,
    mail: &[NewMail],
    now: i64,
) -> StoreResult<()>
where
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<&'q str>: Encode<'q, B::Db>,
{
    for message in mail {
        sqlx::query(
            "INSERT INTO outbox (request_id, kind, recipient_sealed, subject, body_sealed, created_at, \
             next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(request_id)
        .bind(message.kind.as_str())
        .bind(message.recipient_sealed.as_str())
        .bind(message.subject.as_str())
        .bind(message.body_sealed.as_str())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

const LINK_COLUMNS: &str = "request_id, purpose, created_at, expires_at, uses, max_uses, revoked_at";

fn link_from_row<B: Backend>(row: &DbRow<B>) -> StoreResult<SubjectLink>
where
    for<'r> i64: Decode<'r, B::Db> + Type<B::Db>,
    for<'r> String: Decode<'r, B::Db> + Type<B::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<B>>,
{
    let purpose: String = row.try_get("purpose")?;
    Ok(SubjectLink {
        request_id: row.try_get("request_id")?,
        purpose: SubjectLinkPurpose::parse(&purpose)
            .ok_or_else(|| StoreError::Corrupt(format!("link purpose `{purpose}`")))?,
        created_at: from_ms(row.try_get("created_at")?),
        expires_at: from_ms(row.try_get("expires_at")?),
        uses: row.try_get("uses")?,
        max_uses: row.try_get("max_uses")?,
        revoked: row.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
    })
}

const MAIL_COLUMNS: &str = "id, request_id, kind, recipient_sealed, subject, body_sealed, created_at, attempts, \
     last_error, sent_at, sent_by";

fn mail_from_row<B: Backend>(row: &DbRow<B>) -> Result<StoredMail, sqlx::Error>
where
    for<'r> i64: Decode<'r, B::Db> + Type<B::Db>,
    for<'r> String: Decode<'r, B::Db> + Type<B::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<B>>,
{
    Ok(StoredMail {
        id: row.try_get("id")?,
        request_id: row.try_get("request_id")?,
        kind: row.try_get("kind")?,
        recipient_sealed: row.try_get("recipient_sealed")?,
        subject: row.try_get("subject")?,
        body_sealed: row.try_get("body_sealed")?,
        created_at: from_ms(row.try_get("created_at")?),
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        sent_at: row.try_get::<Option<i64>, _>("sent_at")?.map(from_ms),
        sent_by: row.try_get("sent_by")?,
    })
}

/// The statuses no request leaves, as an SQL list.
const CLOSED: &str = "('completed', 'denied', 'unverified', 'cancelled', 'failed')";

// The bounds are what these statements bind and read; `backend.rs` says why each area repeats its own.
#[async_trait]
impl<B: Backend> WorkflowStore for B
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
    async fn change_request(&self, change: RequestChange, now: OffsetDateTime) -> StoreResult<bool> {
        let now = ms(now);
        let mut tx = self.writer().begin().await?;
        sqlx::query(LOCK_REQUEST).bind(&change.id).execute(&mut *tx).await?;
        let answered = (change.to.is_closed() || change.to == RequestStatus::AwaitingDelivery).then_some(now);
        let extension = change.extension.as_ref();
        let updated = sqlx::query(
            "UPDATE requests SET status = $3, timer_at = $4, \
             finished_at = CASE WHEN $5 IS NULL THEN finished_at ELSE COALESCE(finished_at, $5) END, \
             extended_deadline_at = COALESCE($6, extended_deadline_at), \
             extension_days = COALESCE($7, extension_days), extension_reason = COALESCE($8, extension_reason), \
             denial_reason = COALESCE($9, denial_reason), notices = notices | $10 \
             WHERE id = $1 AND status = $2",
        )
        .bind(&change.id)
        .bind(change.from.as_str())
        .bind(change.to.as_str())
        .bind(change.timer_at.map(ms))
        .bind(answered)
        .bind(extension.map(|e| ms(e.deadline)))
        .bind(extension.map(|e| e.days))
        .bind(extension.map(|e| e.reason.as_str()))
        .bind(change.denial_reason.as_deref())
        .bind(change.notices)
        .execute(&mut *tx)
        .await?;
        if B::rows_affected(&updated) == 0 {
            return Ok(false);
        }
        if let Some(digest) = &change.use_link {
            sqlx::query("UPDATE subject_links SET used_at = $2, uses = uses + 1 WHERE digest = $1")
                .bind(digest.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(link) = &change.link {
            issue_link::<B>(&mut *tx, &change.id, link, now).await?;
        }
        queue_mail::<B>(&mut *tx, Some(&change.id), &change.mail, now).await?;
        for line in &change.audit {
            audit::<B>(&mut *tx, &change.id, None, change.actor.as_deref(), line, now).await?;
        }
        if change.start_jobs {
            sqlx::query(
                "UPDATE jobs SET next_attempt_at = $2 WHERE request_id = $1 AND status = 'pending' \
                 AND next_attempt_at IS NULL",
            )
            .bind(&change.id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            // Its connections may all have been removed while it waited.
            recompute_status::<B>(&mut *tx, &change.id, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn note(&self, request_id: &str, actor: Option<&str>, event: &str, now: OffsetDateTime) -> StoreResult<()> {
        let mut tx = self.writer().begin().await?;
        audit::<B>(&mut *tx, request_id, None, actor, event, ms(now)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn latest_link(&self, request_id: &str, purpose: SubjectLinkPurpose) -> StoreResult<Option<SubjectLink>> {
        let row = sqlx::query(&format!(
            "SELECT {LINK_COLUMNS} FROM subject_links WHERE request_id = $1 AND purpose = $2 \
             ORDER BY (revoked_at IS NULL) DESC, created_at DESC, digest LIMIT 1"
        ))
        .bind(request_id)
        .bind(purpose.as_str())
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(link_from_row::<B>).transpose()
    }

    async fn subject_link(&self, digest: &str) -> StoreResult<Option<SubjectLink>> {
        let row = sqlx::query(&format!("SELECT {LINK_COLUMNS} FROM subject_links WHERE digest = $1"))
            .bind(digest)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(link_from_row::<B>).transpose()
    }

    async fn use_link(
        &self,
        digest: &str,
        event: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<(SubjectLink, bool)>> {
        let now = ms(now);
        let mut tx = self.writer().begin().await?;
        let row = sqlx::query(&format!("SELECT {LINK_COLUMNS} FROM subject_links WHERE digest = $1"))
            .bind(digest)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(link) = row.as_ref().map(link_from_row::<B>).transpose()? else { return Ok(None) };
        let counted = sqlx::query(
            "UPDATE subject_links SET uses = uses + 1, used_at = $2 \
             WHERE digest = $1 AND revoked_at IS NULL AND uses < max_uses AND expires_at > $2",
        )
        .bind(digest)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let counted = B::rows_affected(&counted) > 0;
        if counted {
            audit::<B>(&mut *tx, &link.request_id, None, Some("subject"), event, now).await?;
        }
        tx.commit().await?;
        Ok(Some((link, counted)))
    }

    async fn due_timers(&self, now: OffsetDateTime, limit: i64) -> StoreResult<Vec<RequestRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM requests WHERE timer_at IS NOT NULL AND timer_at <= $1 \
             AND status IN ('verifying', 'awaiting_delivery') ORDER BY timer_at, id LIMIT $2"
        ))
        .bind(ms(now))
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(request_from_row::<B>).collect()
    }

    async fn notice_candidates(&self, now: OffsetDateTime, soon: time::Duration) -> StoreResult<Vec<RequestRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM requests WHERE \
             (status NOT IN {CLOSED} AND status <> 'awaiting_delivery' AND ( \
                 (notices & 1 = 0 AND COALESCE(extended_deadline_at, deadline_at) <= $2) \
                 OR (notices & 2 = 0 AND COALESCE(extended_deadline_at, deadline_at) <= $1))) \
             OR (status = 'failed' AND notices & 4 = 0) ORDER BY created_at, id LIMIT 100"
        ))
        .bind(ms(now))
        .bind(ms(now + soon))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(request_from_row::<B>).collect()
    }

    async fn requests_received(&self, from: OffsetDateTime, to: OffsetDateTime) -> StoreResult<Vec<RequestRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM requests WHERE received_at >= $1 AND received_at < $2 \
             ORDER BY received_at, id"
        ))
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(request_from_row::<B>).collect()
    }

    async fn requests_to_summarize(&self) -> StoreResult<Vec<RequestRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM requests WHERE status NOT IN {CLOSED} OR status = 'completed'"
        ))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(request_from_row::<B>).collect()
    }

    async fn unsent_mail(&self, limit: i64) -> StoreResult<Vec<StoredMail>> {
        let rows =
            sqlx::query(&format!("SELECT {MAIL_COLUMNS} FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT $1"))
                .bind(limit)
                .fetch_all(self.reader())
                .await?;
        Ok(rows.iter().map(mail_from_row::<B>).collect::<Result<_, _>>()?)
    }

    async fn due_mail(&self, now: OffsetDateTime, limit: i64) -> StoreResult<Vec<StoredMail>> {
        let rows = sqlx::query(&format!(
            "SELECT {MAIL_COLUMNS} FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, id LIMIT $2"
        ))
        .bind(ms(now))
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        Ok(rows.iter().map(mail_from_row::<B>).collect::<Result<_, _>>()?)
    }

    async fn mail_sent(&self, id: i64, by: Option<&str>, now: OffsetDateTime) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE outbox SET sent_at = $2, sent_by = $3, next_attempt_at = NULL, last_error = NULL \
             WHERE id = $1 AND sent_at IS NULL",
        )
        .bind(id)
        .bind(ms(now))
        .bind(by)
        .execute(self.writer())
        .await?;
        Ok(B::rows_affected(&done) > 0)
    }

    async fn mail_failed(&self, id: i64, error: &str, next_attempt_at: OffsetDateTime) -> StoreResult<()> {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 \
             WHERE id = $1 AND sent_at IS NULL",
        )
        .bind(id)
        .bind(error)
        .bind(ms(next_attempt_at))
        .execute(self.writer())
        .await?;
        Ok(())
    }

    async fn queue_mail(&self, mail: Vec<NewMail>, now: OffsetDateTime) -> StoreResult<()> {
        let mut tx = self.writer().begin().await?;
        queue_mail::<B>(&mut *tx, None, &mail, ms(now)).await?;
        tx.commit().await?;
        Ok(())
    }
}
