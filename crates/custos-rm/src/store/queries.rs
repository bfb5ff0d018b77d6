//! The SQL of the store, written once for both backends.
//!
//! SQLite (through sqlx) and PostgreSQL both accept `$N` placeholders,
//! `RETURNING` and `ON CONFLICT`, so every statement runs unchanged on both;
//! [`impl_rm_store!`] expands one implementation of [`super::RmStore`] per
//! backend. Timestamps are Unix milliseconds.
//!
//! A write transaction starts by touching the request's row
//! ([`LOCK_REQUEST`]): a row lock on PostgreSQL, and the write lock at once
//! on SQLite (rather than a read lock upgraded later, which could deadlock).

use time::OffsetDateTime;

pub(crate) const LOCK_REQUEST: &str = "UPDATE requests SET id = id WHERE id = $1";

/// The states a job can still change from.
pub(crate) const OPEN: &str = "('pending', 'in_progress')";

pub(crate) fn ms(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(crate) fn from_ms(millis: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Implements [`super::RmStore`] for `$store`, a backend with `fn reader(&self)`
/// and `fn writer(&self)` returning its pools, over sqlx database `$db`.
macro_rules! impl_rm_store {
    ($store:ty, $db:ty, $backend:literal) => {
        use async_trait::async_trait;
        use sqlx::Row;
        use time::OffsetDateTime;

        use crate::domain::job::{JobState, JobStatus, Step};
        use crate::domain::request::RequestStatus;
        use crate::store::queries::{from_ms, ms, LOCK_REQUEST, OPEN};
        use crate::store::*;

        type DbRow = <$db as sqlx::Database>::Row;
        type DbConn = <$db as sqlx::Database>::Connection;

        const JOB_COLUMNS: &str = "j.id, j.request_id, j.connection_id, j.connection_name, j.processor_request_id, \
             j.step, j.status, j.attempts, j.next_attempt_at, j.processor_status, j.last_error, j.updated_at, \
             (SELECT COUNT(*) FROM job_results r WHERE r.job_id = j.id) AS results_count";

        const REQUEST_COLUMNS: &str =
            "id, kind, regulation, status, subject_kinds, received_at, deadline_at, created_at, finished_at";

        const CONNECTION_COLUMNS: &str = "id, name, pod, base_url, workspace_key, web_key, created_at";

        const WORK_ITEM: &str = "SELECT j.id, j.request_id, j.connection_id, j.connection_name, \
             j.processor_request_id, j.step, j.status, j.attempts, j.next_attempt_at, j.processor_status, \
             j.last_error, j.updated_at, j.results_url, j.mpids_sealed, \
             (SELECT COUNT(*) FROM job_results r WHERE r.job_id = j.id) AS results_count, \
             q.kind, q.regulation, q.subject_sealed, q.received_at, \
             c.name AS c_name, c.pod, c.base_url, c.workspace_key, c.workspace_secret_sealed, c.web_key, \
             c.web_secret_sealed, c.created_at AS c_created_at, c.removed_at \
             FROM jobs j JOIN requests q ON q.id = j.request_id JOIN connections c ON c.id = j.connection_id";

        fn connection_from_row(row: &DbRow) -> Result<Connection, sqlx::Error> {
            Ok(Connection {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                pod: row.try_get("pod")?,
                base_url: row.try_get("base_url")?,
                workspace_key: row.try_get("workspace_key")?,
                web_key: row.try_get("web_key")?,
                created_at: from_ms(row.try_get("created_at")?),
            })
        }

        fn request_from_row(row: &DbRow) -> StoreResult<RequestRecord> {
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
            })
        }

        fn job_from_row(row: &DbRow) -> StoreResult<JobRecord> {
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

        fn work_item_from_row(row: &DbRow) -> StoreResult<WorkItem> {
            Ok(WorkItem {
                job: job_from_row(row)?,
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
                    },
                    workspace_secret_sealed: row.try_get("workspace_secret_sealed")?,
                    web_secret_sealed: row.try_get("web_secret_sealed")?,
                    removed: row.try_get::<Option<i64>, _>("removed_at")?.is_some(),
                },
            })
        }

        async fn audit(
            conn: &mut DbConn,
            request_id: &str,
            connection_name: Option<&str>,
            event: &str,
            now: i64,
        ) -> StoreResult<()> {
            sqlx::query("INSERT INTO audit (request_id, connection_name, at, event) VALUES ($1, $2, $3, $4)")
                .bind(request_id)
                .bind(connection_name)
                .bind(now)
                .bind(event)
                .execute(&mut *conn)
                .await?;
            Ok(())
        }

        /// Derives the request's status from its jobs'. The caller holds the request's lock.
        async fn recompute_status(conn: &mut DbConn, request_id: &str, now: i64) -> StoreResult<()> {
            let rows = sqlx::query("SELECT status FROM jobs WHERE request_id = $1")
                .bind(request_id)
                .fetch_all(&mut *conn)
                .await?;
            let mut statuses = Vec::with_capacity(rows.len());
            for row in &rows {
                statuses.push(parse_job_status(&row.try_get::<String, _>("status")?)?);
            }
            let status = RequestStatus::of(&statuses);
            let finished = status.is_finished().then_some(now);
            sqlx::query(
                "UPDATE requests SET status = $2, \
                 finished_at = CASE WHEN $3 IS NULL THEN NULL ELSE COALESCE(finished_at, $3) END WHERE id = $1",
            )
            .bind(request_id)
            .bind(status.as_str())
            .bind(finished)
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        /// Locks the job's request and returns its id and the job's connection
        /// name, if the job is still open.
        async fn lock_open_job(conn: &mut DbConn, job_id: i64) -> StoreResult<Option<(String, String)>> {
            sqlx::query("UPDATE requests SET id = id WHERE id = (SELECT request_id FROM jobs WHERE id = $1)")
                .bind(job_id)
                .execute(&mut *conn)
                .await?;
            let row = sqlx::query(&format!(
                "SELECT request_id, connection_name FROM jobs WHERE id = $1 AND status IN {OPEN}"
            ))
            .bind(job_id)
            .fetch_optional(&mut *conn)
            .await?;
            match row {
                Some(row) => Ok(Some((row.try_get("request_id")?, row.try_get("connection_name")?))),
                None => Ok(None),
            }
        }

        /// Writes `update` to the job if `condition` (extra SQL over the bound
        /// parameters) holds; then its results, its audit line and its
        /// request's status. Returns whether the job was written.
        async fn write_job(
            conn: &mut DbConn,
            job_id: i64,
            request_id: &str,
            connection_name: &str,
            update: JobUpdate,
            now: i64,
            expected: Option<JobState>,
        ) -> StoreResult<bool> {
            let condition = match expected {
                Some(_) => {
                    " AND step = $12 AND status = $13 AND attempts = $14 \
                     AND (claimed_until IS NULL OR claimed_until < $6)"
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
                .bind(job_id)
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
                query = query
                    .bind(expected.step.as_str())
                    .bind(expected.status.as_str())
                    .bind(i64::from(expected.attempts));
            }
            if query.execute(&mut *conn).await?.rows_affected() == 0 {
                return Ok(false);
            }
            if let Some(body) = update.results_sealed {
                sqlx::query(
                    "INSERT INTO job_results (job_id, body) VALUES ($1, $2) \
                     ON CONFLICT (job_id) DO UPDATE SET body = excluded.body",
                )
                .bind(job_id)
                .bind(body)
                .execute(&mut *conn)
                .await?;
            }
            audit(&mut *conn, request_id, Some(connection_name), &update.audit, now).await?;
            recompute_status(&mut *conn, request_id, now).await?;
            Ok(true)
        }

        #[async_trait]
        impl RmStore for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn setting(&self, name: &str) -> StoreResult<Option<String>> {
                let row = sqlx::query("SELECT value FROM settings WHERE name = $1")
                    .bind(name)
                    .fetch_optional(self.reader())
                    .await?;
                Ok(row.map(|row| row.try_get("value")).transpose()?)
            }

            async fn setting_or_insert(&self, name: &str, value: &str) -> StoreResult<String> {
                sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                    .bind(name)
                    .bind(value)
                    .execute(self.writer())
                    .await?;
                let row = sqlx::query("SELECT value FROM settings WHERE name = $1")
                    .bind(name)
                    .fetch_one(self.writer())
                    .await?;
                Ok(row.try_get("value")?)
            }

            async fn add_api_token(&self, digest: &str, now: OffsetDateTime) -> StoreResult<()> {
                sqlx::query("INSERT INTO api_tokens (digest, created_at) VALUES ($1, $2)")
                    .bind(digest)
                    .bind(ms(now))
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn api_token_digests(&self) -> StoreResult<Vec<String>> {
                let rows = sqlx::query("SELECT digest FROM api_tokens ORDER BY id").fetch_all(self.reader()).await?;
                Ok(rows.iter().map(|row| row.try_get("digest")).collect::<Result<_, _>>()?)
            }

            async fn insert_connection(&self, new: NewConnection) -> StoreResult<Connection> {
                let result = sqlx::query(
                    "INSERT INTO connections (name, pod, base_url, workspace_key, workspace_secret_sealed, \
                     web_key, web_secret_sealed, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                )
                .bind(&new.name)
                .bind(&new.pod)
                .bind(&new.base_url)
                .bind(&new.workspace_key)
                .bind(&new.workspace_secret_sealed)
                .bind(&new.web_key)
                .bind(&new.web_secret_sealed)
                .bind(ms(new.created_at))
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
                })
            }

            async fn list_connections(&self) -> StoreResult<Vec<Connection>> {
                let rows = sqlx::query(&format!(
                    "SELECT {CONNECTION_COLUMNS} FROM connections WHERE removed_at IS NULL ORDER BY id"
                ))
                .fetch_all(self.reader())
                .await?;
                Ok(rows.iter().map(connection_from_row).collect::<Result<_, _>>()?)
            }

            async fn remove_connection(&self, id: i64, now: OffsetDateTime) -> StoreResult<bool> {
                let now = ms(now);
                let removed =
                    sqlx::query("UPDATE connections SET removed_at = $2 WHERE id = $1 AND removed_at IS NULL")
                        .bind(id)
                        .bind(now)
                        .execute(self.writer())
                        .await?
                        .rows_affected();
                if removed == 0 {
                    return Ok(false);
                }
                let requests = sqlx::query(&format!(
                    "SELECT DISTINCT request_id FROM jobs WHERE connection_id = $1 AND status IN {OPEN} \
                     ORDER BY request_id"
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
                        "UPDATE jobs SET step = $3, status = $4, next_attempt_at = NULL, claimed_until = NULL, mpids_sealed = NULL, \
                         updated_at = $5 WHERE request_id = $1 AND connection_id = $2 AND status IN {OPEN} \
                         RETURNING connection_name"
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
                        audit(&mut *tx, &request_id, Some(&name), "cancelled: the connection was removed", now)
                            .await?;
                    }
                    recompute_status(&mut *tx, &request_id, now).await?;
                    tx.commit().await?;
                }
                Ok(true)
            }

            async fn create_request(&self, new: NewRequest, jobs: Vec<NewJob>) -> StoreResult<RequestRecord> {
                let now = ms(new.created_at);
                let mut tx = self.writer().begin().await?;
                sqlx::query(
                    "INSERT INTO requests (id, kind, regulation, status, subject_sealed, subject_kinds, \
                     received_at, deadline_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&new.id)
                .bind(new.kind.as_str())
                .bind(new.regulation.as_str())
                .bind(RequestStatus::Pending.as_str())
                .bind(&new.subject_sealed)
                .bind(new.subject_kinds.join(","))
                .bind(ms(new.received_at))
                .bind(ms(new.deadline))
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let mut fanned_out = 0;
                for job in &jobs {
                    let connection =
                        sqlx::query("SELECT name FROM connections WHERE id = $1 AND removed_at IS NULL")
                            .bind(job.connection_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                    let Some(connection) = connection else { continue };
                    let name: String = connection.try_get("name")?;
                    sqlx::query(
                        "INSERT INTO jobs (request_id, connection_id, connection_name, processor_request_id, \
                         step, status, attempts, next_attempt_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7)",
                    )
                    .bind(&new.id)
                    .bind(job.connection_id)
                    .bind(&name)
                    .bind(&job.processor_request_id)
                    .bind(Step::Lookup.as_str())
                    .bind(JobStatus::Pending.as_str())
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
                audit(&mut *tx, &new.id, None, &event, now).await?;
                recompute_status(&mut *tx, &new.id, now).await?;
                let row = sqlx::query(&format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = $1"))
                    .bind(&new.id)
                    .fetch_one(&mut *tx)
                    .await?;
                let record = request_from_row(&row)?;
                tx.commit().await?;
                Ok(record)
            }

            async fn list_requests(&self, filter: &RequestFilter) -> StoreResult<Vec<RequestRecord>> {
                let now = ms(filter.now.unwrap_or_else(OffsetDateTime::now_utc));
                let rows = sqlx::query(&format!(
                    "SELECT {REQUEST_COLUMNS} FROM requests \
                     WHERE ($1 IS NULL OR status = $1) \
                     AND ($2 IS NULL OR (CASE WHEN COALESCE(finished_at, $3) > deadline_at THEN 1 ELSE 0 END) = $2) \
                     ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5"
                ))
                .bind(filter.status.map(|s| s.as_str()))
                .bind(filter.overdue.map(i64::from))
                .bind(now)
                .bind(filter.limit)
                .bind(filter.offset)
                .fetch_all(self.reader())
                .await?;
                rows.iter().map(request_from_row).collect()
            }

            async fn request_detail(&self, id: &str) -> StoreResult<Option<RequestDetail>> {
                let mut conn = self.reader().acquire().await?;
                let row = sqlx::query(&format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?;
                let Some(row) = row else { return Ok(None) };
                let request = request_from_row(&row)?;
                let jobs = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs j WHERE j.request_id = $1 ORDER BY j.id"))
                    .bind(id)
                    .fetch_all(&mut *conn)
                    .await?
                    .iter()
                    .map(job_from_row)
                    .collect::<StoreResult<Vec<_>>>()?;
                let audit = sqlx::query("SELECT at, connection_name, event FROM audit WHERE request_id = $1 ORDER BY id")
                    .bind(id)
                    .fetch_all(&mut *conn)
                    .await?
                    .iter()
                    .map(|row| {
                        Ok(AuditEntry {
                            at: from_ms(row.try_get("at")?),
                            connection_name: row.try_get("connection_name")?,
                            event: row.try_get("event")?,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()?;
                Ok(Some(RequestDetail { request, jobs, audit }))
            }

            async fn request_counts(&self) -> StoreResult<Vec<(RequestStatus, i64)>> {
                let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM requests GROUP BY status ORDER BY status")
                    .fetch_all(self.reader())
                    .await?;
                rows.iter()
                    .map(|row| Ok((parse_request_status(&row.try_get::<String, _>("status")?)?, row.try_get("n")?)))
                    .collect()
            }

            async fn job_results(&self, request_id: &str) -> StoreResult<Vec<(String, Vec<u8>)>> {
                let rows = sqlx::query(
                    "SELECT j.connection_name, r.body FROM job_results r JOIN jobs j ON j.id = r.job_id \
                     WHERE j.request_id = $1 ORDER BY j.id",
                )
                .bind(request_id)
                .fetch_all(self.reader())
                .await?;
                Ok(rows
                    .iter()
                    .map(|row| Ok((row.try_get("connection_name")?, row.try_get("body")?)))
                    .collect::<Result<_, sqlx::Error>>()?)
            }

            async fn release_claims(&self) -> StoreResult<u64> {
                Ok(sqlx::query("UPDATE jobs SET claimed_until = NULL WHERE claimed_until IS NOT NULL")
                    .execute(self.writer())
                    .await?
                    .rows_affected())
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
                let row = sqlx::query(&format!("{WORK_ITEM} WHERE j.id = $1"))
                    .bind(job_id)
                    .fetch_optional(self.reader())
                    .await?;
                row.as_ref().map(work_item_from_row).transpose()
            }

            async fn work_item_by_processor_request(
                &self,
                processor_request_id: &str,
            ) -> StoreResult<Option<WorkItem>> {
                let row = sqlx::query(&format!("{WORK_ITEM} WHERE j.processor_request_id = $1"))
                    .bind(processor_request_id)
                    .fetch_optional(self.reader())
                    .await?;
                row.as_ref().map(work_item_from_row).transpose()
            }

            async fn record_step(&self, job_id: i64, update: JobUpdate, now: OffsetDateTime) -> StoreResult<bool> {
                let now = ms(now);
                let mut tx = self.writer().begin().await?;
                let Some((request_id, name)) = lock_open_job(&mut *tx, job_id).await? else {
                    return Ok(false);
                };
                let written = write_job(&mut *tx, job_id, &request_id, &name, update, now, None).await?;
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
                let Some((request_id, name)) = lock_open_job(&mut *tx, job_id).await? else {
                    return Ok(false);
                };
                let audit_line = update.audit.clone();
                if write_job(&mut *tx, job_id, &request_id, &name, update, now, Some(expected)).await? {
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
                audit(&mut *tx, &request_id, Some(&name), &event, now).await?;
                tx.commit().await?;
                Ok(false)
            }
        }
    };
}

pub(crate) use impl_rm_store;
