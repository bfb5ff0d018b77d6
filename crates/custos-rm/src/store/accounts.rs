//! The console's accounts (custos-kit's `ConsoleAccounts`): logins, one-time
//! links, sessions and failed sign-ins, in the `console_*` tables.
//!
//! The SQL is written once for every `Backend`, as the other areas are;
//! [`RmAccounts`] hands it to the kit (a trait of another crate cannot be
//! implemented for every `B` here, so the adapter holds the store).

use std::sync::Arc;

use async_trait::async_trait;
use custos_core::access::UserEmail;
use custos_kit::console::accounts::{
    AccountsError, AccountsResult, ConsoleAccounts, LinkPurpose, Login, NewLink, NewSession, OneTimeLink, Redemption,
    Session,
};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use time::OffsetDateTime;

use super::backend::{Backend, Conn, DbRow};
use super::columns::{from_ms, ms};
use super::{RmStore, StoreError, StoreResult};

/// The store's side of [`ConsoleAccounts`], one method each.
#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn ensure_login(&self, email: &str, now: OffsetDateTime) -> StoreResult<LoginRow>;
    async fn login(&self, email: &str) -> StoreResult<Option<LoginRow>>;
    async fn delete_login(&self, email: &str) -> StoreResult<bool>;
    /// Fails with `NotFound` without the login, `Conflict` for a taken digest.
    async fn insert_link(&self, link: &NewLink) -> StoreResult<()>;
    async fn link(&self, digest: &str) -> StoreResult<Option<LinkRow>>;
    /// `Ok(None)`: no such link. Otherwise the link as it was, and whether it was redeemed now.
    async fn redeem_link(
        &self,
        digest: &str,
        password_hash: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<(LinkRow, bool)>>;
    async fn insert_session(&self, session: &NewSession) -> StoreResult<()>;
    async fn session(&self, digest: &str) -> StoreResult<Option<SessionRow>>;
    async fn touch_session(&self, digest: &str, now: OffsetDateTime) -> StoreResult<bool>;
    async fn delete_session(&self, digest: &str) -> StoreResult<bool>;
    async fn delete_sessions_of(&self, email: &str) -> StoreResult<u64>;
    async fn delete_sessions_idle_since(&self, before: OffsetDateTime) -> StoreResult<u64>;
    async fn record_failed_sign_in(&self, email: &str, at: OffsetDateTime) -> StoreResult<()>;
    async fn failed_sign_ins_since(&self, email: &str, since: OffsetDateTime) -> StoreResult<Vec<OffsetDateTime>>;
    async fn clear_failed_sign_ins(&self, email: &str) -> StoreResult<()>;
    async fn forget_failed_sign_ins_before(&self, before: OffsetDateTime) -> StoreResult<u64>;
}

/// A login as stored (the email as text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRow {
    pub email: String,
    pub password_hash: Option<String>,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRow {
    pub email: String,
    pub purpose: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub email: String,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
}

fn link_from_row<B: Backend>(row: &DbRow<B>) -> Result<LinkRow, sqlx::Error>
where
    for<'r> i64: Decode<'r, B::Db> + Type<B::Db>,
    for<'r> String: Decode<'r, B::Db> + Type<B::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<B>>,
{
    Ok(LinkRow {
        email: row.try_get("email")?,
        purpose: row.try_get("purpose")?,
        created_at: from_ms(row.try_get("created_at")?),
        expires_at: from_ms(row.try_get("expires_at")?),
        used_at: row.try_get::<Option<i64>, _>("used_at")?.map(from_ms),
    })
}

fn insert_error(error: sqlx::Error, what: &str) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(format!("{what} exists")),
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
        _ => error.into(),
    }
}

// The bounds are what these statements bind and read; `backend.rs` says why each area repeats its own.
#[async_trait]
impl<B: Backend> AccountStore for B
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
    async fn ensure_login(&self, email: &str, now: OffsetDateTime) -> StoreResult<LoginRow> {
        sqlx::query("INSERT INTO console_logins (email, created_at) VALUES ($1, $2) ON CONFLICT (email) DO NOTHING")
            .bind(email)
            .bind(ms(now))
            .execute(self.writer())
            .await?;
        let row = sqlx::query("SELECT email, password_hash, created_at FROM console_logins WHERE email = $1")
            .bind(email)
            .fetch_one(self.writer())
            .await?;
        Ok(LoginRow {
            email: row.try_get("email")?,
            password_hash: row.try_get("password_hash")?,
            created_at: from_ms(row.try_get("created_at")?),
        })
    }

    async fn login(&self, email: &str) -> StoreResult<Option<LoginRow>> {
        let row = sqlx::query("SELECT email, password_hash, created_at FROM console_logins WHERE email = $1")
            .bind(email)
            .fetch_optional(self.reader())
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(LoginRow {
            email: row.try_get("email")?,
            password_hash: row.try_get("password_hash")?,
            created_at: from_ms(row.try_get("created_at")?),
        }))
    }

    async fn delete_login(&self, email: &str) -> StoreResult<bool> {
        let mut tx = self.writer().begin().await?;
        for table in ["console_links", "console_sessions"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE email = $1")).bind(email).execute(&mut *tx).await?;
        }
        let deleted = sqlx::query("DELETE FROM console_logins WHERE email = $1").bind(email).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(B::rows_affected(&deleted) > 0)
    }

    async fn insert_link(&self, link: &NewLink) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO console_links (digest, email, purpose, created_at, expires_at) \
             SELECT $1, email, $3, $4, $5 FROM console_logins WHERE email = $2",
        )
        .bind(&link.digest)
        .bind(link.email.as_str())
        .bind(link.purpose.as_str())
        .bind(ms(link.created_at))
        .bind(ms(link.expires_at))
        .execute(self.writer())
        .await
        .map_err(|error| insert_error(error, "a link with that digest"))
        .and_then(|done| if B::rows_affected(&done) == 0 { Err(StoreError::NotFound) } else { Ok(()) })
    }

    async fn link(&self, digest: &str) -> StoreResult<Option<LinkRow>> {
        let row =
            sqlx::query("SELECT email, purpose, created_at, expires_at, used_at FROM console_links WHERE digest = $1")
                .bind(digest)
                .fetch_optional(self.reader())
                .await?;
        Ok(row.as_ref().map(link_from_row::<B>).transpose()?)
    }

    async fn redeem_link(
        &self,
        digest: &str,
        password_hash: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<(LinkRow, bool)>> {
        let now = ms(now);
        let mut tx = self.writer().begin().await?;
        let row =
            sqlx::query("SELECT email, purpose, created_at, expires_at, used_at FROM console_links WHERE digest = $1")
                .bind(digest)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(link) = row.as_ref().map(link_from_row::<B>).transpose()? else { return Ok(None) };
        if link.used_at.is_some() || now >= ms(link.expires_at) {
            return Ok(Some((link, false)));
        }
        sqlx::query("UPDATE console_links SET used_at = $2 WHERE email = $1 AND used_at IS NULL")
            .bind(&link.email)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE console_logins SET password_hash = $2 WHERE email = $1")
            .bind(&link.email)
            .bind(password_hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM console_sessions WHERE email = $1").bind(&link.email).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some((link, true)))
    }

    async fn insert_session(&self, session: &NewSession) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO console_sessions (digest, email, created_at, last_seen_at) \
             SELECT $1, email, $3, $3 FROM console_logins WHERE email = $2",
        )
        .bind(&session.digest)
        .bind(session.email.as_str())
        .bind(ms(session.created_at))
        .execute(self.writer())
        .await
        .map_err(|error| insert_error(error, "a session with that digest"))
        .and_then(|done| if B::rows_affected(&done) == 0 { Err(StoreError::NotFound) } else { Ok(()) })
    }

    async fn session(&self, digest: &str) -> StoreResult<Option<SessionRow>> {
        let row = sqlx::query("SELECT email, created_at, last_seen_at FROM console_sessions WHERE digest = $1")
            .bind(digest)
            .fetch_optional(self.reader())
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(SessionRow {
            email: row.try_get("email")?,
            created_at: from_ms(row.try_get("created_at")?),
            last_seen_at: from_ms(row.try_get("last_seen_at")?),
        }))
    }

    async fn touch_session(&self, digest: &str, now: OffsetDateTime) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE console_sessions SET last_seen_at = $2 WHERE digest = $1")
            .bind(digest)
            .bind(ms(now))
            .execute(self.writer())
            .await?;
        Ok(B::rows_affected(&done) > 0)
    }

    async fn delete_session(&self, digest: &str) -> StoreResult<bool> {
        let done =
            sqlx::query("DELETE FROM console_sessions WHERE digest = $1").bind(digest).execute(self.writer()).await?;
        Ok(B::rows_affected(&done) > 0)
    }

    async fn delete_sessions_of(&self, email: &str) -> StoreResult<u64> {
        let done =
            sqlx::query("DELETE FROM console_sessions WHERE email = $1").bind(email).execute(self.writer()).await?;
        Ok(B::rows_affected(&done))
    }

    async fn delete_sessions_idle_since(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM console_sessions WHERE last_seen_at < $1")
            .bind(ms(before))
            .execute(self.writer())
            .await?;
        Ok(B::rows_affected(&done))
    }

    async fn record_failed_sign_in(&self, email: &str, at: OffsetDateTime) -> StoreResult<()> {
        sqlx::query("INSERT INTO console_sign_in_failures (email, at) VALUES ($1, $2)")
            .bind(email)
            .bind(ms(at))
            .execute(self.writer())
            .await?;
        Ok(())
    }

    async fn failed_sign_ins_since(&self, email: &str, since: OffsetDateTime) -> StoreResult<Vec<OffsetDateTime>> {
        let rows = sqlx::query("SELECT at FROM console_sign_in_failures WHERE email = $1 AND at >= $2 ORDER BY at")
            .bind(email)
            .bind(ms(since))
            .fetch_all(self.reader())
            .await?;
        Ok(rows.iter().map(|row| row.try_get("at").map(from_ms)).collect::<Result<_, _>>()?)
    }

    async fn clear_failed_sign_ins(&self, email: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM console_sign_in_failures WHERE email = $1").bind(email).execute(self.writer()).await?;
        Ok(())
    }

    async fn forget_failed_sign_ins_before(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM console_sign_in_failures WHERE at < $1")
            .bind(ms(before))
            .execute(self.writer())
            .await?;
        Ok(B::rows_affected(&done))
    }
}

/// The store's accounts, as the kit's console asks for them.
#[derive(Clone)]
pub struct RmAccounts(pub Arc<dyn RmStore>);

fn accounts_error(error: StoreError) -> AccountsError {
    match error {
        StoreError::Conflict(what) => AccountsError::Conflict(what),
        StoreError::Corrupt(what) => AccountsError::Corrupt(what),
        other => AccountsError::store(other),
    }
}

fn email(text: String) -> AccountsResult<UserEmail> {
    UserEmail::parse(&text).map_err(|_| AccountsError::Corrupt(format!("stored email {text:?}")))
}

fn login(row: LoginRow) -> AccountsResult<Login> {
    Ok(Login { email: email(row.email)?, password_hash: row.password_hash, created_at: row.created_at })
}

fn one_time_link(row: LinkRow) -> AccountsResult<OneTimeLink> {
    Ok(OneTimeLink {
        email: email(row.email)?,
        purpose: LinkPurpose::parse(&row.purpose)?,
        created_at: row.created_at,
        expires_at: row.expires_at,
        used_at: row.used_at,
    })
}

#[async_trait]
impl ConsoleAccounts for RmAccounts {
    async fn ensure_login(&self, email: &UserEmail, now: OffsetDateTime) -> AccountsResult<Login> {
        login(self.0.ensure_login(email.as_str(), now).await.map_err(accounts_error)?)
    }

    async fn login(&self, email: &UserEmail) -> AccountsResult<Option<Login>> {
        self.0.login(email.as_str()).await.map_err(accounts_error)?.map(login).transpose()
    }

    async fn delete_login(&self, email: &UserEmail) -> AccountsResult<bool> {
        self.0.delete_login(email.as_str()).await.map_err(accounts_error)
    }

    async fn insert_link(&self, link: &NewLink) -> AccountsResult<()> {
        match self.0.insert_link(link).await {
            Err(StoreError::NotFound) => Err(AccountsError::NoLogin(link.email.to_string())),
            other => other.map_err(accounts_error),
        }
    }

    async fn link(&self, digest: &str) -> AccountsResult<Option<OneTimeLink>> {
        self.0.link(digest).await.map_err(accounts_error)?.map(one_time_link).transpose()
    }

    async fn redeem_link(&self, digest: &str, password_hash: &str, now: OffsetDateTime) -> AccountsResult<Redemption> {
        match self.0.redeem_link(digest, password_hash, now).await.map_err(accounts_error)? {
            None => Ok(Redemption::Unknown),
            Some((link, true)) => Ok(Redemption::Redeemed(one_time_link(link)?)),
            Some((link, false)) if link.used_at.is_some() => Ok(Redemption::Used),
            Some(_) => Ok(Redemption::Expired),
        }
    }

    async fn insert_session(&self, session: &NewSession) -> AccountsResult<()> {
        match self.0.insert_session(session).await {
            Err(StoreError::NotFound) => Err(AccountsError::NoLogin(session.email.to_string())),
            other => other.map_err(accounts_error),
        }
    }

    async fn session(&self, digest: &str) -> AccountsResult<Option<Session>> {
        let Some(row) = self.0.session(digest).await.map_err(accounts_error)? else { return Ok(None) };
        Ok(Some(Session { email: email(row.email)?, created_at: row.created_at, last_seen_at: row.last_seen_at }))
    }

    async fn touch_session(&self, digest: &str, now: OffsetDateTime) -> AccountsResult<bool> {
        self.0.touch_session(digest, now).await.map_err(accounts_error)
    }

    async fn delete_session(&self, digest: &str) -> AccountsResult<bool> {
        self.0.delete_session(digest).await.map_err(accounts_error)
    }

    async fn delete_sessions_of(&self, email: &UserEmail) -> AccountsResult<u64> {
        self.0.delete_sessions_of(email.as_str()).await.map_err(accounts_error)
    }

    async fn delete_sessions_idle_since(&self, before: OffsetDateTime) -> AccountsResult<u64> {
        self.0.delete_sessions_idle_since(before).await.map_err(accounts_error)
    }

    async fn record_failed_sign_in(&self, email: &UserEmail, at: OffsetDateTime) -> AccountsResult<()> {
        self.0.record_failed_sign_in(email.as_str(), at).await.map_err(accounts_error)
    }

    async fn failed_sign_ins_since(
        &self,
        email: &UserEmail,
        since: OffsetDateTime,
    ) -> AccountsResult<Vec<OffsetDateTime>> {
        self.0.failed_sign_ins_since(email.as_str(), since).await.map_err(accounts_error)
    }

    async fn clear_failed_sign_ins(&self, email: &UserEmail) -> AccountsResult<()> {
        self.0.clear_failed_sign_ins(email.as_str()).await.map_err(accounts_error)
    }

    async fn forget_failed_sign_ins_before(&self, before: OffsetDateTime) -> AccountsResult<u64> {
        self.0.forget_failed_sign_ins_before(before).await.map_err(accounts_error)
    }
}
