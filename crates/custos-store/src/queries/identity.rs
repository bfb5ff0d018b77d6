//! Identity and profiles: the Identity API's requests (IDSync), which
//! resolve identities to a profile and move them onto it, and the Profile
//! API's view of a profile.
//!
//! The lookups of who holds an identity (`owners_in`, `existing_profile`)
//! also serve data subject requests, which resolve their subject as the
//! Identity API's search would.

use std::collections::HashMap;

use async_trait::async_trait;
use custos_core::identity::{self, Identity, IdentityType, Mpid, Owner, RequestKind, Resolution};
use custos_core::ids::WorkspaceId;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use time::OffsetDateTime;

use super::unix_ms;
use crate::backend::{Args, Backend, Conn, DbRow};
use crate::group_ingest::placeholders;
use crate::{ConsentRecord, IdentityChange, IdentityOutcome, Profile, StoreError, StoreResult, StoredIdentity};

/// Profiles: who they are (the Identity API) and what they hold (the Profile API).
#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// Resolves and applies an Identity API request in one transaction.
    /// `new_mpid` is used if a profile is created; if it is taken the call
    /// fails with [`StoreError::Conflict`] and may be retried with another.
    async fn identity_request(
        &self,
        workspace_id: WorkspaceId,
        kind: RequestKind,
        identities: &[Identity],
        previous_mpid: Option<Mpid>,
        new_mpid: Mpid,
        now: OffsetDateTime,
    ) -> StoreResult<IdentityOutcome>;
    /// Applies identity changes to an existing profile, moving a changed
    /// identity off any other profile. [`StoreError::NotFound`] if the profile does not exist.
    async fn modify_identities(
        &self,
        workspace_id: WorkspaceId,
        mpid: Mpid,
        changes: &[IdentityChange],
        now: OffsetDateTime,
    ) -> StoreResult<()>;

    async fn profile(&self, workspace_id: WorkspaceId, mpid: Mpid) -> StoreResult<Option<Profile>>;
}

// The bounds say what these statements bind and read on `B::Db`; the docs
// of `queries` say why each area repeats its own.
#[async_trait]
impl<B: Backend> IdentityStore for B
where
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::Db>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> String: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<B>>,
    usize: ColumnIndex<DbRow<B>>,
{
    async fn identity_request(
        &self,
        workspace_id: WorkspaceId,
        kind: RequestKind,
        identities: &[Identity],
        previous_mpid: Option<Mpid>,
        new_mpid: Mpid,
        now: OffsetDateTime,
    ) -> StoreResult<IdentityOutcome> {
        let now_ms = unix_ms(now);
        let numbered = B::NUMBERED_PLACEHOLDERS;
        // Most requests reach a profile that already holds every identity
        // they name: answer those from a reader, away from the writer.
        {
            let mut reader = self.reader().acquire().await?;
            let resolution = resolve_in(&mut *reader, numbered, workspace_id, kind, identities, previous_mpid).await?;
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
        let resolution = resolve_in(&mut *tx, numbered, workspace_id, kind, identities, previous_mpid).await?;
        let outcome = apply(&mut *tx, workspace_id.0, resolution, new_mpid, now_ms).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn modify_identities(
        &self,
        workspace_id: WorkspaceId,
        mpid: Mpid,
        changes: &[IdentityChange],
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let now_ms = unix_ms(now);
        let ws = workspace_id.0;
        let mut tx = self.writer().begin().await?;
        if existing_profile(&mut *tx, ws, mpid).await?.is_none() {
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
                attach(&mut *tx, ws, mpid, &Identity::new(change.kind, new.clone()), now_ms).await?;
            }
        }
        touch(&mut *tx, ws, mpid, now_ms).await?;
        tx.commit().await?;
        Ok(())
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
}

/// Who holds each of `identities` now, with each holder's login ID.
pub(crate) async fn owners_in<C, Db>(
    conn: &mut C,
    numbered_placeholders: bool,
    workspace_id: i64,
    identities: &[Identity],
) -> StoreResult<HashMap<Identity, Owner>>
where
    Db: Database,
    for<'c> &'c mut C: Executor<'c, Database = Db>,
    for<'q> Db::Arguments<'q>: IntoArguments<'q, Db>,
    for<'q> i64: Encode<'q, Db> + Decode<'q, Db> + Type<Db>,
    for<'q> String: Encode<'q, Db> + Decode<'q, Db> + Type<Db>,
    for<'q> &'q str: Encode<'q, Db> + Type<Db>,
    for<'a> &'a str: ColumnIndex<Db::Row>,
{
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
        placeholders(identities.len(), 3, numbered_placeholders),
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

/// The profile `mpid` as an owner, if it exists.
pub(crate) async fn existing_profile<C, Db>(conn: &mut C, workspace_id: i64, mpid: Mpid) -> StoreResult<Option<Owner>>
where
    Db: Database,
    for<'c> &'c mut C: Executor<'c, Database = Db>,
    for<'q> Db::Arguments<'q>: IntoArguments<'q, Db>,
    for<'q> i64: Encode<'q, Db> + Decode<'q, Db> + Type<Db>,
    for<'q> String: Decode<'q, Db> + Type<Db>,
    for<'q> &'q str: Encode<'q, Db> + Type<Db>,
    usize: ColumnIndex<Db::Row>,
{
    let found: Option<i64> = sqlx::query_scalar("SELECT mpid FROM profiles WHERE workspace_id = $1 AND mpid = $2")
        .bind(workspace_id)
        .bind(mpid.0)
        .fetch_optional(&mut *conn)
        .await?;
    if found.is_none() {
        return Ok(None);
    }
    let login_id: Option<String> = sqlx::query_scalar(
        "SELECT value FROM profile_identities WHERE workspace_id = $1 AND mpid = $2 AND identity_type = $3 LIMIT 1",
    )
    .bind(workspace_id)
    .bind(mpid.0)
    .bind(IdentityType::CustomerId.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(Some(Owner { mpid, login_id }))
}

/// What `kind` of request naming `identities` resolves to, as the core's
/// profile conversion strategy decides from who holds them now.
async fn resolve_in<C, Db>(
    conn: &mut C,
    numbered_placeholders: bool,
    workspace_id: WorkspaceId,
    kind: RequestKind,
    identities: &[Identity],
    previous_mpid: Option<Mpid>,
) -> StoreResult<Resolution>
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
    let owners = owners_in(&mut *conn, numbered_placeholders, workspace_id.0, identities).await?;
    let previous = match previous_mpid {
        Some(mpid) => existing_profile(&mut *conn, workspace_id.0, mpid).await?,
        None => None,
    };
    Ok(identity::resolve(kind, identities, &|i| owners.get(i).cloned(), previous.as_ref()))
}

/// Carries out a resolution: creates or updates the profile.
async fn apply<C, Db>(
    conn: &mut C,
    workspace_id: i64,
    resolution: Resolution,
    new_mpid: Mpid,
    now_ms: i64,
) -> StoreResult<IdentityOutcome>
where
    Db: Database,
    for<'c> &'c mut C: Executor<'c, Database = Db>,
    for<'q> Db::Arguments<'q>: IntoArguments<'q, Db>,
    for<'q> i64: Encode<'q, Db> + Decode<'q, Db> + Type<Db>,
    for<'q> String: Encode<'q, Db> + Decode<'q, Db> + Type<Db>,
    for<'q> &'q str: Encode<'q, Db> + Type<Db>,
    usize: ColumnIndex<Db::Row>,
{
    let (mpid, attach_list, matched, logged_in, created) = match resolution {
        Resolution::NotFound => {
            return Ok(IdentityOutcome { mpid: None, created: false, matched: vec![], logged_in: false })
        }
        Resolution::Existing { mpid, attach, matched, logged_in } => (mpid, attach, matched, logged_in, false),
        Resolution::Create { attach, logged_in } => {
            (create_profile(&mut *conn, workspace_id, new_mpid, now_ms).await?, attach, vec![], logged_in, true)
        }
    };
    for identity in &attach_list {
        attach(&mut *conn, workspace_id, mpid, identity, now_ms).await?;
    }
    if !created && !attach_list.is_empty() {
        touch(&mut *conn, workspace_id, mpid, now_ms).await?;
    }
    Ok(IdentityOutcome { mpid: Some(mpid), created, matched, logged_in })
}

/// Creates a profile at `candidate`, or at the next free MPID of a
/// fixed sequence derived from it when that one is taken.
async fn create_profile<C, Db>(conn: &mut C, workspace_id: i64, candidate: Mpid, now_ms: i64) -> StoreResult<Mpid>
where
    Db: Database,
    for<'c> &'c mut C: Executor<'c, Database = Db>,
    for<'q> Db::Arguments<'q>: IntoArguments<'q, Db>,
    for<'q> i64: Encode<'q, Db> + Decode<'q, Db> + Type<Db>,
    for<'q> String: Decode<'q, Db> + Type<Db>,
    for<'q> &'q str: Encode<'q, Db> + Type<Db>,
    usize: ColumnIndex<Db::Row>,
{
    let mut mpid = candidate;
    loop {
        if mpid.0 != 0 && existing_profile(&mut *conn, workspace_id, mpid).await?.is_none() {
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
async fn attach<C, Db>(conn: &mut C, workspace_id: i64, mpid: Mpid, identity: &Identity, now_ms: i64) -> StoreResult<()>
where
    Db: Database,
    for<'c> &'c mut C: Executor<'c, Database = Db>,
    for<'q> Db::Arguments<'q>: IntoArguments<'q, Db>,
    for<'q> i64: Encode<'q, Db> + Type<Db>,
    for<'q> String: Encode<'q, Db> + Type<Db>,
    for<'q> &'q str: Encode<'q, Db> + Type<Db>,
{
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

/// Records that the profile changed now.
async fn touch<C, Db>(conn: &mut C, workspace_id: i64, mpid: Mpid, now_ms: i64) -> StoreResult<()>
where
    Db: Database,
    for<'c> &'c mut C: Executor<'c, Database = Db>,
    for<'q> Db::Arguments<'q>: IntoArguments<'q, Db>,
    for<'q> i64: Encode<'q, Db> + Type<Db>,
{
    sqlx::query("UPDATE profiles SET updated_at_ms = $3 WHERE workspace_id = $1 AND mpid = $2")
        .bind(workspace_id)
        .bind(mpid.0)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
