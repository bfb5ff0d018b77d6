//! What a console keeps about the people who sign in to it, as a contract
//! each service's store implements: [`ConsoleAccounts`].
//!
//! Four kinds of record, each keyed as it is looked up:
//! - a **login**: an email address with an optional Argon2id password hash
//!   (none until the person follows their invite);
//! - a **one-time link** (invite or password reset), by the SHA-256 digest
//!   of its token, with its purpose, expiry and the time it was used;
//! - a **session**, by the SHA-256 digest of its cookie, with the time it
//!   was last used (the idle expiry slides from there);
//! - a **failed sign-in**: an email address (known or not) and a time.
//!
//! The store never sees a token, only digests. Expiry is decided by the
//! caller from the times stored (see [`super::session::IdlePolicy`] and
//! [`super::lockout::LockoutPolicy`]), except where it must be atomic with a
//! change: redeeming a link checks its expiry in the same transaction that
//! marks it used.
//!
//! # Tables
//! One table per kind. On SQLite (PostgreSQL alike, with `BIGINT` times in
//! Unix seconds or `TIMESTAMPTZ`):
//!
//! ```sql
//! CREATE TABLE console_logins (
//!     email         TEXT PRIMARY KEY,
//!     password_hash TEXT,
//!     created_at    INTEGER NOT NULL
//! );
//! CREATE TABLE console_links (
//!     digest     TEXT PRIMARY KEY,
//!     email      TEXT NOT NULL REFERENCES console_logins(email) ON DELETE CASCADE,
//!     purpose    TEXT NOT NULL CHECK (purpose IN ('invite', 'reset')),
//!     created_at INTEGER NOT NULL,
//!     expires_at INTEGER NOT NULL,
//!     used_at    INTEGER
//! );
//! CREATE INDEX console_links_by_email ON console_links(email);
//! CREATE TABLE console_sessions (
//!     digest       TEXT PRIMARY KEY,
//!     email        TEXT NOT NULL REFERENCES console_logins(email) ON DELETE CASCADE,
//!     created_at   INTEGER NOT NULL,
//!     last_seen_at INTEGER NOT NULL
//! );
//! CREATE INDEX console_sessions_by_email ON console_sessions(email);
//! CREATE TABLE console_sign_in_failures (
//!     email TEXT    NOT NULL,
//!     at    INTEGER NOT NULL
//! );
//! CREATE INDEX console_sign_in_failures_by_email ON console_sign_in_failures(email, at);
//! ```
//!
//! A service whose own users table is keyed by email may carry
//! `password_hash` there instead of `console_logins`: three tables then.
//! Times may be stored to the second; the conformance suite
//! ([`crate::testing::accounts`]) uses whole seconds.

use async_trait::async_trait;
use custos_core::access::UserEmail;
use time::OffsetDateTime;

/// Why the accounts store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// The login the record belongs to does not exist.
    #[error("no login for {0}")]
    NoLogin(String),
    /// A record with that key exists already (a token digest issued twice).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored value this version cannot read.
    #[error("unreadable stored value: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("accounts store: {0}")]
    Store(Box<dyn std::error::Error + Send + Sync>),
}

impl AccountsError {
    /// Wraps a store's own error.
    pub fn store(error: impl std::error::Error + Send + Sync + 'static) -> AccountsError {
        AccountsError::Store(Box::new(error))
    }
}

pub type AccountsResult<T> = Result<T, AccountsError>;

/// A person who may sign in: an email address and, once set, a password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub email: UserEmail,
    /// An Argon2id PHC string; `None` until the person sets a password.
    pub password_hash: Option<String>,
    pub created_at: OffsetDateTime,
}

/// What a one-time link is for. Both lead to the same page, which sets a
/// password and signs the person in; they differ in wording and lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkPurpose {
    /// A new user's first password.
    Invite,
    /// A forgotten password, replaced.
    PasswordReset,
}

impl LinkPurpose {
    /// The stored form: `invite` or `reset`.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Invite => "invite",
            LinkPurpose::PasswordReset => "reset",
        }
    }

    pub fn parse(stored: &str) -> AccountsResult<LinkPurpose> {
        match stored {
            "invite" => Ok(LinkPurpose::Invite),
            "reset" => Ok(LinkPurpose::PasswordReset),
            other => Err(AccountsError::Corrupt(format!("link purpose {other:?}"))),
        }
    }
}

/// A one-time link to store. Its token is not here: only its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLink {
    pub digest: String,
    pub email: UserEmail,
    pub purpose: LinkPurpose,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// A stored one-time link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeLink {
    pub email: UserEmail,
    pub purpose: LinkPurpose,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
}

/// Whether a link can still be followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Usable,
    Used,
    Expired,
}

impl OneTimeLink {
    /// A used link stays used; an unused one expires at `expires_at`.
    pub fn state(&self, now: OffsetDateTime) -> LinkState {
        if self.used_at.is_some() {
            LinkState::Used
        } else if now >= self.expires_at {
            LinkState::Expired
        } else {
            LinkState::Usable
        }
    }
}

/// What came of redeeming a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// The password is set; here is the link as it was before.
    Redeemed(OneTimeLink),
    /// No link has that digest.
    Unknown,
    Used,
    Expired,
}

/// A session to store, by the digest of its cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub digest: String,
    pub email: UserEmail,
    pub created_at: OffsetDateTime,
}

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub email: UserEmail,
    pub created_at: OffsetDateTime,
    /// When it was last used; its idle expiry counts from here.
    pub last_seen_at: OffsetDateTime,
}

/// The console's records, in a service's store. One implementation per
/// backend; each runs [`crate::testing::accounts::run_all`].
#[async_trait]
pub trait ConsoleAccounts: Send + Sync + 'static {
    // Logins.

    /// The login of `email`, created without a password if there is none.
    async fn ensure_login(&self, email: &UserEmail, now: OffsetDateTime) -> AccountsResult<Login>;

    async fn login(&self, email: &UserEmail) -> AccountsResult<Option<Login>>;

    /// Deletes the login with its links and sessions. Returns whether it existed.
    async fn delete_login(&self, email: &UserEmail) -> AccountsResult<bool>;

    // One-time links.

    /// Stores a link. [`AccountsError::NoLogin`] if its login does not
    /// exist, [`AccountsError::Conflict`] if its digest is taken.
    async fn insert_link(&self, link: &NewLink) -> AccountsResult<()>;

    async fn link(&self, digest: &str) -> AccountsResult<Option<OneTimeLink>>;

    /// In one transaction, if the link is unused and `now` is before its
    /// expiry: marks it used at `now`, marks every other unused link of its
    /// login used too, sets the login's password hash, and deletes the
    /// login's sessions. Otherwise changes nothing and says why.
    async fn redeem_link(&self, digest: &str, password_hash: &str, now: OffsetDateTime) -> AccountsResult<Redemption>;

    // Sessions.

    /// Stores a session, last seen at its creation. [`AccountsError::NoLogin`]
    /// if its login does not exist, [`AccountsError::Conflict`] if its digest is taken.
    async fn insert_session(&self, session: &NewSession) -> AccountsResult<()>;

    async fn session(&self, digest: &str) -> AccountsResult<Option<Session>>;

    /// Records that the session was used at `now`. Returns whether it exists.
    async fn touch_session(&self, digest: &str, now: OffsetDateTime) -> AccountsResult<bool>;

    /// Returns whether it existed.
    async fn delete_session(&self, digest: &str) -> AccountsResult<bool>;

    /// Ends every session of `email` (signed out everywhere). Returns how many there were.
    async fn delete_sessions_of(&self, email: &UserEmail) -> AccountsResult<u64>;

    /// Deletes the sessions last seen before `before`. Returns how many.
    async fn delete_sessions_idle_since(&self, before: OffsetDateTime) -> AccountsResult<u64>;

    // Failed sign-ins, for any email address typed, known or not.

    async fn record_failed_sign_in(&self, email: &UserEmail, at: OffsetDateTime) -> AccountsResult<()>;

    /// The times of `email`'s failed sign-ins at or after `since`, oldest first.
    async fn failed_sign_ins_since(
        &self,
        email: &UserEmail,
        since: OffsetDateTime,
    ) -> AccountsResult<Vec<OffsetDateTime>>;

    /// Forgets `email`'s failed sign-ins (after a successful one).
    async fn clear_failed_sign_ins(&self, email: &UserEmail) -> AccountsResult<()>;

    /// Forgets every failed sign-in before `before`. Returns how many.
    async fn forget_failed_sign_ins_before(&self, before: OffsetDateTime) -> AccountsResult<u64>;
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;
    use time::Duration;

    use super::*;

    fn link(used_at: Option<OffsetDateTime>) -> OneTimeLink {
        OneTimeLink {
            email: UserEmail::parse("ann@example.com").unwrap(),
            purpose: LinkPurpose::Invite,
            created_at: datetime!(2025-01-01 09:00 UTC),
            expires_at: datetime!(2025-01-04 09:00 UTC),
            used_at,
        }
    }

    #[test]
    fn a_link_is_usable_until_it_expires_or_is_used() {
        let unused = link(None);
        assert_eq!(unused.state(datetime!(2025-01-01 09:00 UTC)), LinkState::Usable);
        assert_eq!(unused.state(datetime!(2025-01-04 09:00 UTC) - Duration::seconds(1)), LinkState::Usable);
        assert_eq!(unused.state(datetime!(2025-01-04 09:00 UTC)), LinkState::Expired);
        let used = link(Some(datetime!(2025-01-02 09:00 UTC)));
        assert_eq!(used.state(datetime!(2025-01-02 10:00 UTC)), LinkState::Used);
        assert_eq!(used.state(datetime!(2025-02-01 00:00 UTC)), LinkState::Used, "used wins over expired");
    }

    #[test]
    fn purposes_round_trip_through_their_stored_form() {
        for purpose in [LinkPurpose::Invite, LinkPurpose::PasswordReset] {
            assert_eq!(LinkPurpose::parse(purpose.as_str()).unwrap(), purpose);
        }
        assert!(matches!(LinkPurpose::parse("admin"), Err(AccountsError::Corrupt(_))));
    }
}
