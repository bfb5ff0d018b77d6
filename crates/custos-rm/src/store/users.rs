//! People and API tokens: each with a role. A user's sign-in lives in the
//! console's tables (`accounts.rs`); removing a user removes it too.
//!
//! **Invariant:** at least one Super Admin remains once there is one: the
//! last cannot be removed or demoted (a conflict), so nobody is locked out
//! of managing users.

use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use time::OffsetDateTime;

use super::backend::{Backend, Conn, DbRow};
use super::columns::{from_ms, ms};
use super::{ActivityEntry, ApiToken, StoreError, StoreResult, User};
use crate::domain::role::Role;

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Adds the user, or changes an existing one's role (and notices, when given).
    async fn put_user(&self, email: &str, role: Role, notify: Option<bool>, now: OffsetDateTime) -> StoreResult<User>;
    async fn user(&self, email: &str) -> StoreResult<Option<User>>;
    /// By email.
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    /// Changes what is given. `None` when there is no such user.
    async fn update_user(&self, email: &str, role: Option<Role>, notify: Option<bool>) -> StoreResult<Option<User>>;
    /// Removes the user and their sign-in (login, links, sessions). Returns whether they existed.
    async fn remove_user(&self, email: &str) -> StoreResult<bool>;
    /// The emails of the users who asked for operator notices.
    async fn notice_recipients(&self) -> StoreResult<Vec<String>>;

    /// Keeps an API token by its SHA-256 digest, with a name and a role.
    async fn add_api_token(&self, digest: &str, name: &str, role: Role, now: OffsetDateTime) -> StoreResult<()>;
    async fn api_token(&self, digest: &str) -> StoreResult<Option<ApiToken>>;
    /// The digests of every token issued, oldest first.
    async fn api_token_digests(&self) -> StoreResult<Vec<String>>;

    /// A line of the audit log outside any request.
    async fn record_activity(&self, actor: &str, event: &str, now: OffsetDateTime) -> StoreResult<()>;
    /// The audit log, newest first: the activity and every request's trail,
    /// `limit` lines before `before` (a time), when given.
    async fn audit_log(&self, before: Option<OffsetDateTime>, limit: i64) -> StoreResult<Vec<ActivityEntry>>;
}

fn parse_role(text: &str) -> Result<Role, StoreError> {
    Role::parse(text).ok_or_else(|| StoreError::Corrupt(format!("role `{text}`")))
}

fn user_from_row<B: Backend>(row: &DbRow<B>) -> StoreResult<User>
where
    for<'r> i64: Decode<'r, B::Db> + Type<B::Db>,
    for<'r> String: Decode<'r, B::Db> + Type<B::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<B>>,
{
    Ok(User {
        email: row.try_get("email")?,
        role: parse_role(&row.try_get::<String, _>("role")?)?,
        notify: row.try_get::<i64, _>("notify")? != 0,
        created_at: from_ms(row.try_get("created_at")?),
    })
}

/// Refuses a change that would leave no Super Admin. Run inside the change's transaction.
async fn keep_a_super_admin<B: Backend>(conn: &mut Conn<B>, email: &str) -> StoreResult<()>
where
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> i64: Decode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<B>>,
{
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM users WHERE role = 'super_admin' AND email <> $1) AS others, \
         (SELECT COUNT(*) FROM users WHERE role = 'super_admin' AND email = $1) AS this",
    )
    .bind(email)
    .fetch_one(&mut *conn)
    .await?;
    let (others, this): (i64, i64) = (row.try_get("others")?, row.try_get("this")?);
    if this > 0 && others == 0 {
        return Err(StoreError::Conflict(format!("{email} is the last Super Admin: make another one first")));
    }
    Ok(())
}

const USER_COLUMNS: &str = "email, role, notify, created_at";

// The bounds are what these statements bind and read; `backend.rs` says why each area repeats its own.
#[async_trait]
impl<B: Backend> UserStore for B
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
    async fn put_user(&self, email: &str, role: Role, notify: Option<bool>, now: OffsetDateTime) -> StoreResult<User> {
        let mut tx = self.writer().begin().await?;
        if role != Role::SuperAdmin {
            keep_a_super_admin::<B>(&mut *tx, email).await?;
        }
        let row = sqlx::query(&format!(
            "INSERT INTO users (email, role, notify, created_at) VALUES ($1, $2, COALESCE($3, 0), $4) \
             ON CONFLICT (email) DO UPDATE SET role = excluded.role, notify = COALESCE($3, users.notify) \
             RETURNING {USER_COLUMNS}"
        ))
        .bind(email)
        .bind(role.as_str())
        .bind(notify.map(i64::from))
        .bind(ms(now))
        .fetch_one(&mut *tx)
        .await?;
        let user = user_from_row::<B>(&row)?;
        tx.commit().await?;
        Ok(user)
    }

    async fn user(&self, email: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1"))
            .bind(email)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(user_from_row::<B>).transpose()
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let rows =
            sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY email")).fetch_all(self.reader()).await?;
        rows.iter().map(user_from_row::<B>).collect()
    }

    async fn update_user(&self, email: &str, role: Option<Role>, notify: Option<bool>) -> StoreResult<Option<User>> {
        let mut tx = self.writer().begin().await?;
        if role.is_some_and(|role| role != Role::SuperAdmin) {
            keep_a_super_admin::<B>(&mut *tx, email).await?;
        }
        let row = sqlx::query(&format!(
            "UPDATE users SET role = COALESCE($2, role), notify = COALESCE($3, notify) WHERE email = $1 \
             RETURNING {USER_COLUMNS}"
        ))
        .bind(email)
        .bind(role.map(Role::as_str))
        .bind(notify.map(i64::from))
        .fetch_optional(&mut *tx)
        .await?;
        let user = row.as_ref().map(user_from_row::<B>).transpose()?;
        tx.commit().await?;
        Ok(user)
    }

    async fn remove_user(&self, email: &str) -> StoreResult<bool> {
        let mut tx = self.writer().begin().await?;
        keep_a_super_admin::<B>(&mut *tx, email).await?;
        let removed = sqlx::query("DELETE FROM users WHERE email = $1").bind(email).execute(&mut *tx).await?;
        for table in ["console_links", "console_sessions", "console_logins"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE email = $1")).bind(email).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(B::rows_affected(&removed) > 0)
    }

    async fn notice_recipients(&self) -> StoreResult<Vec<String>> {
        let rows =
            sqlx::query("SELECT email FROM users WHERE notify <> 0 ORDER BY email").fetch_all(self.reader()).await?;
        Ok(rows.iter().map(|row| row.try_get("email")).collect::<Result<_, _>>()?)
    }

    async fn add_api_token(&self, digest: &str, name: &str, role: Role, now: OffsetDateTime) -> StoreResult<()> {
        sqlx::query("INSERT INTO api_tokens (digest, name, role, created_at) VALUES ($1, $2, $3, $4)")
            .bind(digest)
            .bind(name)
            .bind(role.as_str())
            .bind(ms(now))
            .execute(self.writer())
            .await?;
        Ok(())
    }

    async fn api_token(&self, digest: &str) -> StoreResult<Option<ApiToken>> {
        let row = sqlx::query("SELECT id, name, role FROM api_tokens WHERE digest = $1")
            .bind(digest)
            .fetch_optional(self.reader())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let id: i64 = row.try_get("id")?;
        let name: Option<String> = row.try_get("name")?;
        Ok(Some(ApiToken {
            name: name.unwrap_or_else(|| format!("token-{id}")),
            role: parse_role(&row.try_get::<String, _>("role")?)?,
        }))
    }

    async fn api_token_digests(&self) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT digest FROM api_tokens ORDER BY id").fetch_all(self.reader()).await?;
        Ok(rows.iter().map(|row| row.try_get("digest")).collect::<Result<_, _>>()?)
    }

    async fn record_activity(&self, actor: &str, event: &str, now: OffsetDateTime) -> StoreResult<()> {
        sqlx::query("INSERT INTO activity (at, actor, event) VALUES ($1, $2, $3)")
            .bind(ms(now))
            .bind(actor)
            .bind(event)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    async fn audit_log(&self, before: Option<OffsetDateTime>, limit: i64) -> StoreResult<Vec<ActivityEntry>> {
        let rows = sqlx::query(
            "SELECT at, actor, event, request_id, connection_name FROM ( \
               SELECT at, actor, event, NULL AS request_id, NULL AS connection_name FROM activity \
               UNION ALL SELECT at, actor, event, request_id, connection_name FROM audit) entries \
             WHERE ($1 IS NULL OR at < $1) ORDER BY at DESC LIMIT $2",
        )
        .bind(before.map(ms))
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ActivityEntry {
                    at: from_ms(row.try_get("at")?),
                    actor: row.try_get::<Option<String>, _>("actor")?.unwrap_or_else(|| "system".into()),
                    event: row.try_get("event")?,
                    request_id: row.try_get("request_id")?,
                    connection_name: row.try_get("connection_name")?,
                })
            })
            .collect()
    }
}
