//! The SQL of the store, written once for both backends, one module per area:
//!
//! - `tenants` ([`TenantStore`](crate::TenantStore)): organizations, accounts, workspaces,
//!   inputs, API credentials and their tokens.
//! - `roles` ([`RoleStore`](crate::RoleStore)): custom roles (the manifest) and users' roles.
//! - `identity` ([`IdentityStore`](crate::IdentityStore)): Identity API requests and profiles.
//! - `batches` ([`BatchStore`](crate::BatchStore)): ingest groups (each backend drives
//!   `group_ingest` its own way), batches read back, counts.
//! - `dsr_requests` ([`SubjectRequestStore`](crate::SubjectRequestStore)): data subject requests as the
//!   API sees them, their audit trail and results.
//! - `dsr_worker` ([`DsrWorkerStore`](crate::DsrWorkerStore)): leases, access exports, ending a request.
//! - `erasure` ([`ErasureStore`](crate::ErasureStore)): erasure, purging old row versions, suppression.
//! - `callbacks` ([`CallbackStore`](crate::CallbackStore)): the outbox of status callbacks.
//!
//! Each module declares its trait and implements it once, for every
//! [`Backend`](crate::backend::Backend), so go-to-implementation from a
//! `Store` call lands on its SQL. SQLite (through sqlx) and PostgreSQL both
//! accept `$N` placeholders, `RETURNING` and `ON CONFLICT`, so every
//! statement runs unchanged on both; what differs (the pools, the ingest
//! driver, purging old row versions) is the backend's to say.
//!
//! Each impl states which Rust types its statements bind and read on the
//! backend's database (`for<'q> i64: Encode<'q, B::Db> + …`), and that a
//! connection executes them. Rust does not carry such bounds on other types
//! from a trait's declaration to its users, so they cannot be said once in
//! `Backend`: each area's impl has its list, next to the SQL that needs it,
//! and each helper function the part it uses. Helpers take a connection
//! `&mut C` and infer the database from it, so a transaction passes `&mut *tx`.
//!
//! Serialization of an organization's changes: a write transaction starts by
//! touching the organization's row ([`LOCK_ORG`]). On PostgreSQL that takes
//! the row lock; on SQLite it takes the database write lock at once instead
//! of upgrading a read lock later (which could deadlock).

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

/// Locks an organization for the rest of the transaction; no row if it does not exist.
pub(crate) const LOCK_ORG: &str = "UPDATE organizations SET id = id WHERE id = $1";

/// A time as the tenant tables hold it: seconds since the Unix epoch.
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
