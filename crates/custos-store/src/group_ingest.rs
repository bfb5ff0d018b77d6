//! Storing a group of event batches in a handful of statements.
//!
//! The ingest path is the hottest write of the platform, and on SQLite each
//! statement costs a round trip to the connection's thread. So a group is
//! stored in three steps: read everything the group needs (earlier requests,
//! holders of its identities, login IDs, existing profiles) with a few
//! multi-row joins; resolve every batch in memory, in order, exactly as one
//! batch at a time would; then write the outcome with multi-row statements.
//!
//! Lookups join against a `VALUES` list rather than `IN (VALUES …)` on row
//! values, which SQLite would answer with a full scan.

/// `rows` groups of `width` placeholders: numbered, `($1,$2),($3,$4)`, or
/// anonymous, `(?,?),(?,?)`. SQLite binds anonymous ones in order, while a
/// numbered one costs a linear search of the statement's parameter names:
/// quadratic in a statement of hundreds of rows.
pub(crate) fn placeholders(rows: usize, width: usize, numbered: bool) -> String {
    let mut sql = String::with_capacity(rows * width * 5);
    for row in 0..rows {
        if row > 0 {
            sql.push(',');
        }
        sql.push('(');
        for column in 0..width {
            if column > 0 {
                sql.push(',');
            }
            if numbered {
                sql.push('$');
                sql.push_str(&(row * width + column + 1).to_string());
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql
}

/// Rows per multi-row statement, largest first. A fixed set of sizes keeps
/// the number of distinct statements small, so they stay prepared in the
/// connection's cache instead of being prepared again for every group.
const STATEMENT_ROWS: [usize; 5] = [256, 64, 16, 4, 1];

/// `items` cut into slices of the sizes in [`STATEMENT_ROWS`].
pub(crate) fn statement_chunks<T>(mut items: &[T]) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    for size in STATEMENT_ROWS {
        while items.len() >= size {
            let (chunk, rest) = items.split_at(size);
            chunks.push(chunk);
            items = rest;
        }
    }
    chunks
}

/// Implements `ingest_group` for a backend; expanded inside `impl_store!`.
macro_rules! impl_group_ingest {
    ($db:ty) => {
        use std::collections::HashSet;

        use crate::group_ingest::{placeholders, statement_chunks};

        /// What a group changes, keyed so that the last change of a key wins.
        #[derive(Default)]
        struct GroupPlan<'a> {
            new_profiles: Vec<(i64, i64, i64)>,
            identities: HashMap<(i64, Identity), (i64, i64)>,
            attributes: HashMap<(i64, i64, &'a str), Option<(&'a str, i64)>>,
            consent: HashMap<(i64, i64, &'a str, &'a str), &'a str>,
            touched: HashMap<(i64, i64), (i64, Option<i64>)>,
            batches: Vec<(&'a IncomingBatch, i64)>,
        }

        async fn ingest_group(conn: &mut DbConn, batches: &[IncomingBatch]) -> StoreResult<Vec<IngestOutcome>> {
            // 1. Read what the group needs.
            let mut stored_requests: HashMap<(i64, String), i64> = HashMap::new();
            let requests: Vec<(i64, &str)> =
                batches.iter().filter_map(|b| b.source_request_id.as_deref().map(|s| (b.input_id, s))).collect();
            for chunk in statement_chunks(&requests) {
                let sql = format!(
                    "SELECT b.input_id, b.source_request_id, b.mpid FROM \
                     (SELECT column1 AS i, column2 AS s FROM (VALUES {}) AS r) AS k \
                     JOIN batches b ON b.input_id = k.i AND b.source_request_id = k.s",
                    placeholders(chunk.len(), 2, NUMBERED_PLACEHOLDERS)
                );
                let mut query = sqlx::query(&sql);
                for (input_id, request_id) in chunk {
                    query = query.bind(*input_id).bind(*request_id);
                }
                for row in query.fetch_all(&mut *conn).await? {
                    stored_requests.insert((row.try_get(0)?, row.try_get(1)?), row.try_get(2)?);
                }
            }

            let mut holders: HashMap<(i64, Identity), i64> = HashMap::new();
            let wanted: HashSet<(i64, &Identity)> =
                batches.iter().flat_map(|b| b.identities.iter().map(move |i| (b.workspace_id.0, i))).collect();
            let wanted: Vec<(i64, &Identity)> = wanted.into_iter().collect();
            for chunk in statement_chunks(&wanted) {
                let sql = format!(
                    "SELECT p.workspace_id, p.identity_type, p.value, p.mpid FROM \
                     (SELECT column1 AS ws, column2 AS t, column3 AS v FROM (VALUES {}) AS r) AS k \
                     JOIN profile_identities p ON p.workspace_id = k.ws AND p.identity_type = k.t AND p.value = k.v",
                    placeholders(chunk.len(), 3, NUMBERED_PLACEHOLDERS)
                );
                let mut query = sqlx::query(&sql);
                for (ws, identity) in chunk {
                    query = query.bind(*ws).bind(identity.kind.as_str()).bind(&identity.value);
                }
                for row in query.fetch_all(&mut *conn).await? {
                    let Ok(kind) = IdentityType::parse(&row.try_get::<String, _>(1)?) else { continue };
                    holders.insert((row.try_get(0)?, Identity::new(kind, row.try_get::<String, _>(2)?)), row.try_get(3)?);
                }
            }

            let mut known: HashSet<(i64, i64)> = holders.iter().map(|((ws, _), mpid)| (*ws, *mpid)).collect();
            known.extend(batches.iter().filter_map(|b| b.mpid.map(|m| (b.workspace_id.0, m.0))));
            let known: Vec<(i64, i64)> = known.into_iter().collect();
            let mut login_ids: HashMap<(i64, i64), String> = HashMap::new();
            for chunk in statement_chunks(&known) {
                let sql = format!(
                    "SELECT p.workspace_id, p.mpid, p.value FROM \
                     (SELECT column1 AS ws, column2 AS m FROM (VALUES {}) AS r) AS k \
                     JOIN profile_identities p ON p.workspace_id = k.ws AND p.mpid = k.m AND p.identity_type = '{}'",
                    placeholders(chunk.len(), 2, NUMBERED_PLACEHOLDERS),
                    IdentityType::CustomerId.as_str()
                );
                let mut query = sqlx::query(&sql);
                for (ws, mpid) in chunk {
                    query = query.bind(*ws).bind(*mpid);
                }
                for row in query.fetch_all(&mut *conn).await? {
                    login_ids.insert((row.try_get(0)?, row.try_get(1)?), row.try_get(2)?);
                }
            }

            let candidates: HashSet<(i64, i64)> = batches
                .iter()
                .flat_map(|b| [Some(b.new_mpid.0), b.mpid.map(|m| m.0)].into_iter().flatten().map(move |m| (b.workspace_id.0, m)))
                .collect();
            let mut profiles: HashSet<(i64, i64)> = HashSet::new();
            let looked_up: Vec<(i64, i64)> = candidates.iter().copied().collect();
            for chunk in statement_chunks(&looked_up) {
                let sql = format!(
                    "SELECT p.workspace_id, p.mpid FROM (SELECT column1 AS ws, column2 AS m FROM (VALUES {}) AS r) AS k \
                     JOIN profiles p ON p.workspace_id = k.ws AND p.mpid = k.m",
                    placeholders(chunk.len(), 2, NUMBERED_PLACEHOLDERS)
                );
                let mut query = sqlx::query(&sql);
                for (ws, mpid) in chunk {
                    query = query.bind(*ws).bind(*mpid);
                }
                for row in query.fetch_all(&mut *conn).await? {
                    profiles.insert((row.try_get(0)?, row.try_get(1)?));
                }
            }

            let keyed: Vec<(i64, &[String])> = batches
                .iter()
                .filter(|b| !b.suppression_keys.is_empty())
                .map(|b| (b.workspace_id.0, b.suppression_keys.as_slice()))
                .collect();
            let suppressed = suppressed_in(conn, &keyed).await?;

            // 2. Resolve each batch in order, in memory.
            let mut plan = GroupPlan::default();
            let mut outcomes = Vec::with_capacity(batches.len());
            for batch in batches {
                let ws = batch.workspace_id.0;
                let request_key = batch.source_request_id.as_ref().map(|s| (batch.input_id, s.clone()));
                if let Some(mpid) = request_key.as_ref().and_then(|key| stored_requests.get(key)) {
                    outcomes.push(IngestOutcome { mpid: Mpid(*mpid), duplicate: true, suppressed: false });
                    continue;
                }
                if batch.suppression_keys.iter().any(|key| suppressed.contains(&(ws, key.clone()))) {
                    outcomes.push(IngestOutcome { mpid: Mpid(0), duplicate: false, suppressed: true });
                    continue;
                }
                let owner = |mpid: i64| Owner { mpid: Mpid(mpid), login_id: login_ids.get(&(ws, mpid)).cloned() };
                let own = batch.mpid.filter(|m| profiles.contains(&(ws, m.0))).map(|m| owner(m.0));
                let resolution = identity::resolve_batch(own, &batch.identities, &|identity: &Identity| {
                    holders.get(&(ws, identity.clone())).map(|mpid| owner(*mpid))
                });
                let ts = batch.received_at_ms;
                let (existing, attach) = match resolution {
                    Resolution::Existing { mpid, attach, .. } => (Some(mpid.0), attach),
                    Resolution::Create { attach, .. } => (None, attach),
                    Resolution::NotFound => (None, Vec::new()),
                };
                let mpid = match existing {
                    Some(mpid) => mpid,
                    None => {
                        // The candidate, or the next free MPID of a fixed sequence
                        // derived from it (the candidates were all looked up above).
                        let mut mpid = batch.new_mpid.0;
                        while mpid == 0
                            || profiles.contains(&(ws, mpid))
                            || (!candidates.contains(&(ws, mpid))
                                && existing_profile(conn, ws, Mpid(mpid)).await?.is_some())
                        {
                            mpid = mpid.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                        }
                        profiles.insert((ws, mpid));
                        plan.new_profiles.push((ws, mpid, ts));
                        mpid
                    }
                };
                for identity in attach {
                    if identity.kind.is_login_id() {
                        login_ids.insert((ws, mpid), identity.value.clone());
                    }
                    holders.insert((ws, identity.clone()), mpid);
                    plan.identities.insert((ws, identity), (mpid, ts));
                }
                for (name, value) in &batch.attributes {
                    plan.attributes.insert((ws, mpid, name), Some((value, ts)));
                }
                for name in &batch.deleted_attributes {
                    plan.attributes.insert((ws, mpid, name), None);
                }
                for consent in &batch.consent {
                    plan.consent.insert((ws, mpid, &consent.regulation, &consent.purpose), &consent.state_json);
                }
                let touched = plan.touched.entry((ws, mpid)).or_insert((ts, None));
                touched.0 = touched.0.max(ts);
                if let Some(opted_out) = batch.opted_out {
                    touched.1 = Some(i64::from(opted_out));
                }
                plan.batches.push((batch, mpid));
                if let Some(key) = request_key {
                    stored_requests.insert(key, mpid);
                }
                outcomes.push(IngestOutcome { mpid: Mpid(mpid), duplicate: false, suppressed: false });
            }

            // 3. Write the plan.
            write_group(conn, &plan).await?;
            Ok(outcomes)
        }

        async fn write_group(conn: &mut DbConn, plan: &GroupPlan<'_>) -> StoreResult<()> {
            for chunk in statement_chunks(&plan.new_profiles) {
                let sql = format!(
                    "INSERT INTO profiles (workspace_id, mpid, created_at_ms, updated_at_ms) VALUES {}",
                    placeholders(chunk.len(), 4, NUMBERED_PLACEHOLDERS)
                );
                let mut query = sqlx::query(&sql);
                for (ws, mpid, ts) in chunk {
                    query = query.bind(*ws).bind(*mpid).bind(*ts).bind(*ts);
                }
                query.execute(&mut *conn).await?;
            }

            let identities: Vec<_> = plan.identities.iter().collect();
            for chunk in statement_chunks(&identities) {
                let sql = format!(
                    "INSERT INTO profile_identities (workspace_id, identity_type, value, mpid, created_at_ms) VALUES {} \
                     ON CONFLICT (workspace_id, identity_type, value) DO UPDATE SET mpid = excluded.mpid \
                     WHERE profile_identities.mpid IS DISTINCT FROM excluded.mpid",
                    placeholders(chunk.len(), 5, NUMBERED_PLACEHOLDERS)
                );
                let mut query = sqlx::query(&sql);
                for ((ws, identity), (mpid, ts)) in chunk {
                    query = query.bind(*ws).bind(identity.kind.as_str()).bind(&identity.value).bind(*mpid).bind(*ts);
                }
                query.execute(&mut *conn).await?;
            }

            let set: Vec<_> =
                plan.attributes.iter().filter_map(|(key, value)| value.map(|(json, ts)| (key, json, ts))).collect();
            for chunk in statement_chunks(&set) {
                let sql = format!(
                    "INSERT INTO profile_attributes (workspace_id, mpid, name, value_json, updated_at_ms) VALUES {} \
                     ON CONFLICT (workspace_id, mpid, name) DO UPDATE \
                     SET value_json = excluded.value_json, updated_at_ms = excluded.updated_at_ms \
                     WHERE profile_attributes.value_json IS DISTINCT FROM excluded.value_json",
                    placeholders(chunk.len(), 5, NUMBERED_PLACEHOLDERS)
                );
                let mut query = sqlx::query(&sql);
                for ((ws, mpid, name), json, ts) in chunk {
                    query = query.bind(*ws).bind(*mpid).bind(*name).bind(*json).bind(*ts);
                }
                query.execute(&mut *conn).await?;
            }
            // Deletions are rare: one statement each.
            for ((ws, mpid, name), _) in plan.attributes.iter().filter(|(_, value)| value.is_none()) {
                sqlx::query("DELETE FROM profile_attributes WHERE workspace_id = $1 AND mpid = $2 AND name = $3")
                    .bind(*ws)
                    .bind(*mpid)
                    .bind(*name)
                    .execute(&mut *conn)
                    .await?;
            }

            let consent: Vec<_> = plan.consent.iter().collect();
            for chunk in statement_chunks(&consent) {
                let sql = format!(
                    "INSERT INTO profile_consent (workspace_id, mpid, regulation, purpose, state_json) VALUES {} \
                     ON CONFLICT (workspace_id, mpid, regulation, purpose) DO UPDATE SET state_json = excluded.state_json \
                     WHERE profile_consent.state_json IS DISTINCT FROM excluded.state_json",
                    placeholders(chunk.len(), 5, NUMBERED_PLACEHOLDERS)
                );
                let mut query = sqlx::query(&sql);
                for ((ws, mpid, regulation, purpose), state) in chunk {
                    query = query.bind(*ws).bind(*mpid).bind(*regulation).bind(*purpose).bind(**state);
                }
                query.execute(&mut *conn).await?;
            }

            let touched: Vec<_> = plan.touched.iter().collect();
            for chunk in statement_chunks(&touched) {
                let sql = format!(
                    "UPDATE profiles SET updated_at_ms = v.ts, opted_out = COALESCE(v.opted, profiles.opted_out) \
                     FROM (SELECT column1 AS ws, column2 AS m, column3 AS ts, column4 AS opted FROM (VALUES {}) AS r) AS v \
                     WHERE profiles.workspace_id = v.ws AND profiles.mpid = v.m",
                    placeholders(chunk.len(), 4, NUMBERED_PLACEHOLDERS)
                );
                let mut query = sqlx::query(&sql);
                for ((ws, mpid), (ts, opted)) in chunk {
                    query = query.bind(*ws).bind(*mpid).bind(*ts).bind(*opted);
                }
                query.execute(&mut *conn).await?;
            }

            for chunk in statement_chunks(&plan.batches) {
                let sql = format!(
                    "INSERT INTO batches (workspace_id, input_id, mpid, source_request_id, received_at_ms, event_count, body) \
                     VALUES {}",
                    placeholders(chunk.len(), 7, NUMBERED_PLACEHOLDERS)
                );
                let mut query = sqlx::query(&sql);
                for (batch, mpid) in chunk {
                    query = query
                        .bind(batch.workspace_id.0)
                        .bind(batch.input_id)
                        .bind(*mpid)
                        .bind(&batch.source_request_id)
                        .bind(batch.received_at_ms)
                        .bind(batch.event_count)
                        .bind(&batch.body);
                }
                query.execute(&mut *conn).await?;
            }
            Ok(())
        }
    };
}

pub(crate) use impl_group_ingest;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_rows_and_columns() {
        assert_eq!(placeholders(2, 3, true), "($1,$2,$3),($4,$5,$6)");
        assert_eq!(placeholders(1, 1, true), "($1)");
        assert_eq!(placeholders(2, 2, false), "(?,?),(?,?)");
    }

    #[test]
    fn statement_chunks_cover_everything_in_fixed_sizes() {
        let items: Vec<u32> = (0..343).collect();
        let sizes: Vec<usize> = statement_chunks(&items).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [256, 64, 16, 4, 1, 1, 1]);
        assert_eq!(statement_chunks(&items).concat(), items);
    }
}
