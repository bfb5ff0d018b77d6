//! Settings: the sealed key check.

use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};

use super::backend::{Backend, Conn, DbRow};
use super::StoreResult;

#[async_trait]
pub trait SettingStore: Send + Sync {
    async fn setting(&self, name: &str) -> StoreResult<Option<String>>;
    /// Stores `value` unless the setting exists; returns the value now stored.
    async fn setting_or_insert(&self, name: &str, value: &str) -> StoreResult<String>;
}

// The bounds are what these statements bind and read; `backend.rs` says why each area repeats its own.
#[async_trait]
impl<B: Backend> SettingStore for B
where
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
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
}
