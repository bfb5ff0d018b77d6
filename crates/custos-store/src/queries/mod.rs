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

use std::time::Duration;

use custos_core::access::Role;
use custos_core::scope::Scope;
use time::OffsetDateTime;

use crate::StoreError;

pub(crate) mod batches;
pub(crate) mod callbacks;
pub(crate) mod dsr_requests;
pub(crate) mod dsr_worker;
pub(crate) mod erasure;
pub(crate) mod identity;
pub(crate) mod roles;
pub(crate) mod tenants;

pub(crate) const LOCK_ORG: &str = "UPDATE organizations SET id = id WHERE id = $1";

pub(crate) fn unix(at: OffsetDateTime) -> i64 {
    at.unix_timestamp()
}

pub(crate) fn from_unix(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A time as the `_ms` columns hold it: milliseconds since the Unix epoch.
pub(crate) fn unix_ms(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

/// A duration in milliseconds, to add to an `_ms` column.
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
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
