//! Settings (the sealed key check) and the admin API tokens' digests.

use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use time::OffsetDateTime;

use super::backend::{Backend, Conn, DbRow};
use super::columns::ms;
use super::StoreResult;

#[async_trait]
pub trait SettingStore: Send + Sync {
    async fn setting(&self, name: &str) -> StoreResult<Option<String>>;
    /// Stores `value` unless the setting exists; returns the value now stored.
    async fn setting_or_insert(&self, name: &str, value: &str) -> StoreResult<String>;

    /// Keeps an admin API token, by its SHA-256 digest.
    async fn add_api_token(&self, digest: &str, now: OffsetDateTime) -> StoreResult<()>;
    /// The digests of every token issued, oldest first.
    async fn api_token_digests(&self) -> StoreResult<Vec<String>>;
}

// The bounds are what these statements bind and read; `backend.rs` says why each area repeats its own.
#[async_trait]
impl<B: Backend> SettingStore for B
where
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> String: Decode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<B>>,
{
    async fn setting(&self, name: &str) -> StoreResult<Option<String>> {
        let row =
            sqlx::query("SELECT value FROM settings WHERE name = $1").bind(name).fetch_optional(self.reader()).await?;
        Ok(row.map(|row| row.try_get("value")).transpose()?)
    }

    async fn setting_or_insert(&self, name: &str, value: &str) -> StoreResult<String> {
        sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(value)
            .execute(self.writer())
            .await?;
        let row = sqlx::query("SELECT value FROM settings WHERE name = $1").bind(name).fetch_one(self.writer()).await?;
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
}
