//! The SQL of data subject requests, for both backends; expanded inside
//! `impl_store!`, whose helpers (identity lookups, `DbConn`) it uses.

/// A request is due when it is open, its time has come and no live worker holds it.
pub(crate) const DUE: &str = "status IN ('pending', 'in_progress') AND next_run_ms <= $1 \
     AND (lease_until_ms IS NULL OR lease_until_ms <= $1)";

macro_rules! impl_dsr_store {
    ($store:ty, $backend:literal) => {
        use custos_core::dsr::{RequestStatus, Subject, Trace};

        use crate::dsr_model::decode_subject;
        use crate::dsr_queries::DUE;
        use crate::queries::dsr_requests::{audit_in, queue_callbacks, request_from_row, REQUEST_COLUMNS};

        /// The profiles a subject reaches. Each identity is looked up alone,
        /// as the Identity API's search would: a user identity reaches its
        /// holder, a device identity never reaches a profile with a login ID.
        async fn subject_profiles(conn: &mut DbConn, ws: i64, subject: &Subject) -> StoreResult<Vec<Mpid>> {
            let mut found: Vec<Mpid> = Vec::new();
            match subject {
                Subject::Mpid(mpid) => {
                    if crate::queries::identity::existing_profile(&mut *conn, ws, *mpid).await?.is_some() {
                        found.push(*mpid);
                    }
                }
                Subject::Identities(identities) => {
                    let owners = crate::queries::identity::owners_in(
                        &mut *conn,
                        <$store as crate::backend::Backend>::NUMBERED_PLACEHOLDERS,
                        ws,
                        identities,
                    )
                    .await?;
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
        async fn held_subject(
            conn: &mut DbConn,
            ws: i64,
            request_id: &str,
            owner: &str,
        ) -> StoreResult<Option<Subject>> {
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
        async fn finish_held(
            conn: &mut DbConn,
            ws: i64,
            request_id: &str,
            owner: &str,
            status: RequestStatus,
            failure_reason: Option<&str>,
            now_ms: i64,
        ) -> StoreResult<Option<SubjectRequest>> {
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
            audit_in(conn, ws, request_id, status.as_str(), &detail, now_ms).await?;
            queue_callbacks(conn, &request, status, now_ms).await?;
            Ok(Some(request))
        }

        #[async_trait]
        impl DsrStore for $store {
            async fn claim_subject_request(
                &self,
                owner: &str,
                now_ms: i64,
                lease_ms: i64,
            ) -> StoreResult<Option<ClaimedRequest>> {
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
                until_ms: i64,
            ) -> StoreResult<bool> {
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
                now_ms: i64,
            ) -> StoreResult<()> {
                let mut conn = self.writer().acquire().await?;
                audit_in(&mut *conn, workspace_id.0, request_id, step, detail, now_ms).await
            }

            async fn erase_subject(
                &self,
                workspace_id: WorkspaceId,
                request_id: &str,
                owner: &str,
                hasher: TraceHasher<'_>,
                now_ms: i64,
            ) -> StoreResult<ErasureReport> {
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
                    Some(subject) => subject_profiles(&mut *tx, ws, subject).await?,
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
                    report.profiles += sqlx::query(&delete("profiles")).bind(ws).bind(m).execute(&mut *tx).await?.rows_affected();
                    // Exports made for this profile by earlier requests go too; their results now answer 410.
                    let exported: Vec<String> = sqlx::query_scalar(
                        "SELECT request_id FROM dsr_request_profiles WHERE workspace_id = $1 AND mpid = $2",
                    )
                    .bind(ws)
                    .bind(m)
                    .fetch_all(&mut *tx)
                    .await?;
                    for other in &exported {
                        report.export_chunks += sqlx::query(
                            "DELETE FROM dsr_export_chunks WHERE workspace_id = $1 AND request_id = $2",
                        )
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
                self.purge_old_versions().await
            }

            async fn begin_export(
                &self,
                workspace_id: WorkspaceId,
                request_id: &str,
                owner: &str,
                now_ms: i64,
            ) -> StoreResult<Vec<Mpid>> {
                let ws = workspace_id.0;
                let mut tx = self.writer().begin().await?;
                let subject = held_subject(&mut *tx, ws, request_id, owner).await?;
                let profiles = match &subject {
                    Some(subject) => subject_profiles(&mut *tx, ws, subject).await?,
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
                now_ms: i64,
            ) -> StoreResult<bool> {
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
                next_run_ms: i64,
                now_ms: i64,
            ) -> StoreResult<bool> {
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
                now_ms: i64,
            ) -> StoreResult<bool> {
                let mut tx = self.writer().begin().await?;
                let done =
                    finish_held(&mut *tx, workspace_id.0, request_id, owner, RequestStatus::Failed, Some(reason), now_ms)
                        .await?;
                tx.commit().await?;
                Ok(done.is_some())
            }

            async fn expire_exports(&self, now_ms: i64) -> StoreResult<u64> {
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

            async fn claim_callbacks(
                &self,
                now_ms: i64,
                lease_ms: i64,
                limit: i64,
            ) -> StoreResult<Vec<CallbackDelivery>> {
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
                now_ms: i64,
            ) -> StoreResult<()> {
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
                let (step, detail) = match result {
                    CallbackResult::Delivered { http_status } => {
                        ("callback_answered", serde_json::json!({ "status": delivery.status.wire_name(), "http_status": http_status, "attempt": delivery.attempts }))
                    }
                    CallbackResult::Retry { error, .. } => {
                        ("callback_attempted", serde_json::json!({ "status": delivery.status.wire_name(), "error": error, "attempt": delivery.attempts }))
                    }
                    CallbackResult::GaveUp { error } => {
                        ("callback_abandoned", serde_json::json!({ "status": delivery.status.wire_name(), "error": error, "attempt": delivery.attempts }))
                    }
                };
                audit_in(&mut *tx, delivery.workspace_id.0, &delivery.request_id, step, &detail.to_string(), now_ms).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn suppressed(&self, workspace_id: WorkspaceId, keys: &[String]) -> StoreResult<bool> {
                if keys.is_empty() {
                    return Ok(false);
                }
                let mut conn = self.reader().acquire().await?;
                Ok(!suppressed_in(&mut conn, &[(workspace_id.0, keys)]).await?.is_empty())
            }

        }

        /// Which of the keys (per workspace) are suppressed.
        async fn suppressed_in(conn: &mut DbConn, keys: &[(i64, &[String])]) -> StoreResult<HashSet<(i64, String)>> {
            let wanted: Vec<(i64, &String)> = keys.iter().flat_map(|(ws, keys)| keys.iter().map(move |k| (*ws, k))).collect();
            let mut found = HashSet::new();
            for chunk in crate::group_ingest::statement_chunks(&wanted) {
                let sql = crate::group_ingest::SUPPRESSED_JOIN
                    .replacen("{}", &crate::group_ingest::placeholders(chunk.len(), 2, <$store as crate::backend::Backend>::NUMBERED_PLACEHOLDERS), 1);
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
    };
}

pub(crate) use impl_dsr_store;
