//! The SQL of the store, written once for both backends.
//!
//! SQLite (through sqlx) and PostgreSQL both accept `$N` placeholders,
//! `RETURNING` and `ON CONFLICT`, so every statement here runs unchanged on
//! both. [`impl_store!`] expands the one implementation of [`crate::Store`]
//! per backend; a backend only says where it reads and where it writes.
//!
//! Serialization of an organization's changes: a write transaction starts by
//! touching the organization's row (`UPDATE organizations SET id = id`). On
//! PostgreSQL that takes the row lock; on SQLite it takes the database write
//! lock at once instead of upgrading a read lock later (which could deadlock).

use custos_core::access::Role;
use custos_core::scope::Scope;
use time::OffsetDateTime;

use crate::StoreError;

pub(crate) mod roles;
pub(crate) mod tenants;

pub(crate) const LOCK_ORG: &str = "UPDATE organizations SET id = id WHERE id = $1";

pub(crate) fn unix(at: OffsetDateTime) -> i64 {
    at.unix_timestamp()
}

pub(crate) fn from_unix(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub(crate) fn join_scopes(scopes: &[Scope]) -> String {
    scopes.iter().map(|scope| scope.as_str()).collect::<Vec<_>>().join(",")
}

/// Scopes as stored. A name this version does not know (written by a newer
/// one) is skipped rather than failing every request of the credential.
pub(crate) fn split_scopes(text: &str) -> Vec<Scope> {
    text.split(',').filter_map(|name| name.parse().ok()).collect()
}

pub(crate) fn join_tasks(role: &Role) -> String {
    role.tasks.join(" ")
}

pub(crate) fn split_tasks(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// A unique value taken is a [`StoreError::Conflict`] naming `what`.
pub(crate) fn unique_violation(error: sqlx::Error, what: &str) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what.to_owned()),
        _ => StoreError::Database(error),
    }
}

/// Implements [`crate::Store`] for `$store`, a backend with `fn reader(&self)`
/// and `fn writer(&self)` returning its pools, over sqlx database `$db`.
macro_rules! impl_store {
    ($store:ty, $db:ty, $backend:literal) => {
        use async_trait::async_trait;
        use std::collections::{HashMap, HashSet};

        use custos_core::identity::{self, Identity, IdentityType, Mpid, Owner, RequestKind, Resolution};
        use custos_core::ids::WorkspaceId;
        use sqlx::Row;

        use crate::*;

        type DbRow = <$db as sqlx::Database>::Row;

        type DbConn = <$db as sqlx::Database>::Connection;

        /// Who holds each of `identities` now, with each holder's login ID.
        async fn owners_in(
            conn: &mut DbConn,
            workspace_id: i64,
            identities: &[Identity],
        ) -> StoreResult<HashMap<Identity, Owner>> {
            if identities.is_empty() {
                return Ok(HashMap::new());
            }
            // One statement: the holders of the identities with their login IDs.
            let sql = format!(
                "SELECT p.identity_type, p.value, p.mpid, l.value AS login_id FROM \
                 (SELECT column1 AS ws, column2 AS t, column3 AS v FROM (VALUES {}) AS r) AS k \
                 JOIN profile_identities p ON p.workspace_id = k.ws AND p.identity_type = k.t AND p.value = k.v \
                 LEFT JOIN profile_identities l \
                   ON l.workspace_id = p.workspace_id AND l.mpid = p.mpid AND l.identity_type = '{}'",
                crate::group_ingest::placeholders(identities.len(), 3, <$store as crate::backend::Backend>::NUMBERED_PLACEHOLDERS),
                IdentityType::CustomerId.as_str()
            );
            let mut query = sqlx::query(&sql);
            for identity in identities {
                query = query.bind(workspace_id).bind(identity.kind.as_str()).bind(&identity.value);
            }
            let mut owners = HashMap::new();
            for row in query.fetch_all(&mut *conn).await? {
                let Ok(kind) = IdentityType::parse(&row.try_get::<String, _>("identity_type")?) else { continue };
                owners.insert(
                    Identity::new(kind, row.try_get::<String, _>("value")?),
                    Owner { mpid: Mpid(row.try_get("mpid")?), login_id: row.try_get("login_id")? },
                );
            }
            Ok(owners)
        }

        async fn login_id_in(conn: &mut DbConn, workspace_id: i64, mpid: i64) -> StoreResult<Option<String>> {
            Ok(sqlx::query_scalar(
                "SELECT value FROM profile_identities WHERE workspace_id = $1 AND mpid = $2 AND identity_type = $3 LIMIT 1",
            )
            .bind(workspace_id)
            .bind(mpid)
            .bind(IdentityType::CustomerId.as_str())
            .fetch_optional(&mut *conn)
            .await?)
        }

        /// The profile `mpid` as an owner, if it exists.
        async fn existing_profile(conn: &mut DbConn, workspace_id: i64, mpid: Mpid) -> StoreResult<Option<Owner>> {
            let found: Option<i64> =
                sqlx::query_scalar("SELECT mpid FROM profiles WHERE workspace_id = $1 AND mpid = $2")
                    .bind(workspace_id)
                    .bind(mpid.0)
                    .fetch_optional(&mut *conn)
                    .await?;
            match found {
                Some(_) => Ok(Some(Owner { mpid, login_id: login_id_in(conn, workspace_id, mpid.0).await? })),
                None => Ok(None),
            }
        }

        /// Creates a profile at `candidate`, or at the next free MPID of a
        /// fixed sequence derived from it when that one is taken.
        async fn create_profile(conn: &mut DbConn, workspace_id: i64, candidate: Mpid, now_ms: i64) -> StoreResult<Mpid> {
            let mut mpid = candidate;
            loop {
                if mpid.0 != 0 && existing_profile(conn, workspace_id, mpid).await?.is_none() {
                    break;
                }
                mpid = Mpid(mpid.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407));
            }
            sqlx::query("INSERT INTO profiles (workspace_id, mpid, created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $3)")
                .bind(workspace_id)
                .bind(mpid.0)
                .bind(now_ms)
                .execute(&mut *conn)
                .await?;
            Ok(mpid)
        }

        /// Gives `identity` to `mpid`, taking it from whichever profile held it.
        async fn attach(conn: &mut DbConn, workspace_id: i64, mpid: Mpid, identity: &Identity, now_ms: i64) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO profile_identities (workspace_id, identity_type, value, mpid, created_at_ms) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (workspace_id, identity_type, value) DO UPDATE SET mpid = excluded.mpid",
            )
            .bind(workspace_id)
            .bind(identity.kind.as_str())
            .bind(&identity.value)
            .bind(mpid.0)
            .bind(now_ms)
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        async fn touch(conn: &mut DbConn, workspace_id: i64, mpid: Mpid, now_ms: i64) -> StoreResult<()> {
            sqlx::query("UPDATE profiles SET updated_at_ms = $3 WHERE workspace_id = $1 AND mpid = $2")
                .bind(workspace_id)
                .bind(mpid.0)
                .bind(now_ms)
                .execute(&mut *conn)
                .await?;
            Ok(())
        }

        /// Carries out a resolution: creates or updates the profile.
        async fn apply(
            conn: &mut DbConn,
            workspace_id: i64,
            resolution: Resolution,
            new_mpid: Mpid,
            now_ms: i64,
        ) -> StoreResult<IdentityOutcome> {
            let (mpid, attach_list, matched, logged_in, created) = match resolution {
                Resolution::NotFound => {
                    return Ok(IdentityOutcome { mpid: None, created: false, matched: vec![], logged_in: false })
                }
                Resolution::Existing { mpid, attach, matched, logged_in } => (mpid, attach, matched, logged_in, false),
                Resolution::Create { attach, logged_in } => {
                    (create_profile(conn, workspace_id, new_mpid, now_ms).await?, attach, vec![], logged_in, true)
                }
            };
            for identity in &attach_list {
                attach(conn, workspace_id, mpid, identity, now_ms).await?;
            }
            if !created && !attach_list.is_empty() {
                touch(conn, workspace_id, mpid, now_ms).await?;
            }
            Ok(IdentityOutcome { mpid: Some(mpid), created, matched, logged_in })
        }

        async fn resolve_in(
            conn: &mut DbConn,
            workspace_id: WorkspaceId,
            kind: RequestKind,
            identities: &[Identity],
            previous_mpid: Option<Mpid>,
        ) -> StoreResult<Resolution> {
            let owners = owners_in(conn, workspace_id.0, identities).await?;
            let previous = match previous_mpid {
                Some(mpid) => existing_profile(conn, workspace_id.0, mpid).await?,
                None => None,
            };
            Ok(identity::resolve(kind, identities, &|i| owners.get(i).cloned(), previous.as_ref()))
        }

        crate::dsr_queries::impl_dsr_store!($store, $backend);

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                <$store as crate::backend::Backend>::NAME
            }

            async fn identity_request(
                &self,
                workspace_id: WorkspaceId,
                kind: RequestKind,
                identities: &[Identity],
                previous_mpid: Option<Mpid>,
                new_mpid: Mpid,
                now_ms: i64,
            ) -> StoreResult<IdentityOutcome> {
                // Most requests reach a profile that already holds every identity
                // they name: answer those from a reader, away from the writer.
                {
                    let mut reader = self.reader().acquire().await?;
                    let resolution = resolve_in(&mut reader, workspace_id, kind, identities, previous_mpid).await?;
                    match resolution {
                        Resolution::NotFound => {
                            return Ok(IdentityOutcome { mpid: None, created: false, matched: vec![], logged_in: false })
                        }
                        Resolution::Existing { mpid, attach, matched, logged_in } if attach.is_empty() => {
                            return Ok(IdentityOutcome { mpid: Some(mpid), created: false, matched, logged_in })
                        }
                        _ => {}
                    }
                }
                let mut tx = self.writer().begin().await?;
                let resolution = resolve_in(&mut tx, workspace_id, kind, identities, previous_mpid).await?;
                let outcome = apply(&mut tx, workspace_id.0, resolution, new_mpid, now_ms).await?;
                tx.commit().await?;
                Ok(outcome)
            }

            async fn modify_identities(
                &self,
                workspace_id: WorkspaceId,
                mpid: Mpid,
                changes: &[IdentityChange],
                now_ms: i64,
            ) -> StoreResult<()> {
                let ws = workspace_id.0;
                let mut tx = self.writer().begin().await?;
                if existing_profile(&mut tx, ws, mpid).await?.is_none() {
                    return Err(StoreError::NotFound);
                }
                for change in changes {
                    if let Some(old) = &change.old {
                        sqlx::query(
                            "DELETE FROM profile_identities \
                             WHERE workspace_id = $1 AND identity_type = $2 AND value = $3 AND mpid = $4",
                        )
                        .bind(ws)
                        .bind(change.kind.as_str())
                        .bind(old)
                        .bind(mpid.0)
                        .execute(&mut *tx)
                        .await?;
                    }
                    if let Some(new) = &change.new {
                        if change.kind.is_login_id() {
                            // A profile has one login ID: a new one replaces the old.
                            sqlx::query(
                                "DELETE FROM profile_identities WHERE workspace_id = $1 AND mpid = $2 AND identity_type = $3",
                            )
                            .bind(ws)
                            .bind(mpid.0)
                            .bind(change.kind.as_str())
                            .execute(&mut *tx)
                            .await?;
                        }
                        attach(&mut tx, ws, mpid, &Identity::new(change.kind, new.clone()), now_ms).await?;
                    }
                }
                touch(&mut tx, ws, mpid, now_ms).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn commit_batches(&self, batches: &[IncomingBatch]) -> StoreResult<Vec<IngestOutcome>> {
                // Each backend drives `group_ingest::GroupIngest` its own way.
                self.commit_group(batches).await
            }

            async fn sync_batches(&self) -> StoreResult<()> {
                self.sync_groups().await
            }

            async fn profile(&self, workspace_id: WorkspaceId, mpid: Mpid) -> StoreResult<Option<Profile>> {
                let ws = workspace_id.0;
                let mut conn = self.reader().begin().await?;
                // Storing a batch does not touch its profile's row, which would
                // cost the ingest path a page written at random per batch: the
                // profile's last stored time is also its latest batch's.
                let Some(row) = sqlx::query(
                    "SELECT p.created_at_ms, p.updated_at_ms, p.opted_out, \
                       (SELECT b.received_at_ms FROM batches b WHERE b.workspace_id = p.workspace_id AND b.mpid = p.mpid \
                        ORDER BY b.id DESC LIMIT 1) AS last_batch_ms \
                     FROM profiles p WHERE p.workspace_id = $1 AND p.mpid = $2",
                )
                .bind(ws)
                .bind(mpid.0)
                .fetch_optional(&mut *conn)
                .await?
                else {
                    return Ok(None);
                };
                let identities = sqlx::query(
                    "SELECT identity_type, value, created_at_ms FROM profile_identities \
                     WHERE workspace_id = $1 AND mpid = $2 ORDER BY created_at_ms, identity_type",
                )
                .bind(ws)
                .bind(mpid.0)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .filter_map(|row| {
                    let kind = IdentityType::parse(&row.try_get::<String, _>("identity_type").ok()?).ok()?;
                    Some(StoredIdentity {
                        identity: Identity::new(kind, row.try_get::<String, _>("value").ok()?),
                        created_at_ms: row.try_get("created_at_ms").ok()?,
                    })
                })
                .collect();
                let attributes = sqlx::query(
                    "SELECT name, value_json FROM profile_attributes WHERE workspace_id = $1 AND mpid = $2 ORDER BY name",
                )
                .bind(ws)
                .bind(mpid.0)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|row| Ok((row.try_get("name")?, row.try_get("value_json")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
                let consent = sqlx::query(
                    "SELECT regulation, purpose, state_json FROM profile_consent \
                     WHERE workspace_id = $1 AND mpid = $2 ORDER BY regulation, purpose",
                )
                .bind(ws)
                .bind(mpid.0)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|row| {
                    Ok(ConsentRecord {
                        regulation: row.try_get("regulation")?,
                        purpose: row.try_get("purpose")?,
                        state_json: row.try_get("state_json")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
                conn.commit().await?;
                Ok(Some(Profile {
                    mpid,
                    created_at_ms: row.try_get("created_at_ms")?,
                    updated_at_ms: row
                        .try_get::<i64, _>("updated_at_ms")?
                        .max(row.try_get::<Option<i64>, _>("last_batch_ms")?.unwrap_or(i64::MIN)),
                    opted_out: row.try_get::<i64, _>("opted_out")? != 0,
                    identities,
                    attributes,
                    consent,
                }))
            }

            async fn stats(&self) -> StoreResult<Stats> {
                let rows = sqlx::query(
                    "SELECT w.id, \
                       (SELECT COUNT(*) FROM batches b WHERE b.workspace_id = w.id) AS batches, \
                       (SELECT CAST(COALESCE(SUM(b.event_count), 0) AS BIGINT) FROM batches b WHERE b.workspace_id = w.id) AS events, \
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
                    stats.workspaces.push((WorkspaceId(row.try_get("id")?), counts));
                }
                Ok(stats)
            }
        }
    };
}

pub(crate) use impl_store;
