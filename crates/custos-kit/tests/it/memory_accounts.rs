//! [`ConsoleAccounts`] in memory, for the kit's own tests only: services
//! test their consoles on their real stores, which run the same
//! conformance suite (`custos_kit::testing::accounts`).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use custos_core::access::UserEmail;
use custos_kit::console::accounts::{
    AccountsError, AccountsResult, ConsoleAccounts, LinkState, Login, NewLink, NewSession, OneTimeLink, Redemption,
    Session,
};
use time::OffsetDateTime;

#[derive(Default)]
struct Records {
    logins: HashMap<UserEmail, Login>,
    links: HashMap<String, OneTimeLink>,
    sessions: HashMap<String, Session>,
    failures: Vec<(UserEmail, OffsetDateTime)>,
}

#[derive(Default)]
pub(crate) struct MemoryAccounts {
    records: Mutex<Records>,
}

impl MemoryAccounts {
    fn records(&self) -> std::sync::MutexGuard<'_, Records> {
        self.records.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl ConsoleAccounts for MemoryAccounts {
    async fn ensure_login(&self, email: &UserEmail, now: OffsetDateTime) -> AccountsResult<Login> {
        let mut records = self.records();
        let login = records.logins.entry(email.clone()).or_insert_with(|| Login {
            email: email.clone(),
            password_hash: None,
            created_at: now,
        });
        Ok(login.clone())
    }

    async fn login(&self, email: &UserEmail) -> AccountsResult<Option<Login>> {
        Ok(self.records().logins.get(email).cloned())
    }

    async fn delete_login(&self, email: &UserEmail) -> AccountsResult<bool> {
        let mut records = self.records();
        records.links.retain(|_, link| link.email != *email);
        records.sessions.retain(|_, session| session.email != *email);
        Ok(records.logins.remove(email).is_some())
    }

    async fn insert_link(&self, link: &NewLink) -> AccountsResult<()> {
        let mut records = self.records();
        if !records.logins.contains_key(&link.email) {
            return Err(AccountsError::NoLogin(link.email.to_string()));
        }
        if records.links.contains_key(&link.digest) {
            return Err(AccountsError::Conflict("link digest".to_owned()));
        }
        let stored = OneTimeLink {
            email: link.email.clone(),
            purpose: link.purpose,
            created_at: link.created_at,
            expires_at: link.expires_at,
            used_at: None,
        };
        records.links.insert(link.digest.clone(), stored);
        Ok(())
    }

    async fn link(&self, digest: &str) -> AccountsResult<Option<OneTimeLink>> {
        Ok(self.records().links.get(digest).cloned())
    }

    async fn redeem_link(&self, digest: &str, password_hash: &str, now: OffsetDateTime) -> AccountsResult<Redemption> {
        let mut records = self.records();
        let Some(link) = records.links.get(digest).cloned() else {
            return Ok(Redemption::Unknown);
        };
        match link.state(now) {
            LinkState::Used => return Ok(Redemption::Used),
            LinkState::Expired => return Ok(Redemption::Expired),
            LinkState::Usable => {}
        }
        for other in records.links.values_mut().filter(|other| other.email == link.email && other.used_at.is_none()) {
            other.used_at = Some(now);
        }
        let login =
            records.logins.get_mut(&link.email).ok_or_else(|| AccountsError::NoLogin(link.email.to_string()))?;
        login.password_hash = Some(password_hash.to_owned());
        records.sessions.retain(|_, session| session.email != link.email);
        Ok(Redemption::Redeemed(link))
    }

    async fn insert_session(&self, session: &NewSession) -> AccountsResult<()> {
        let mut records = self.records();
        if !records.logins.contains_key(&session.email) {
            return Err(AccountsError::NoLogin(session.email.to_string()));
        }
        if records.sessions.contains_key(&session.digest) {
            return Err(AccountsError::Conflict("session digest".to_owned()));
        }
        let stored =
            Session { email: session.email.clone(), created_at: session.created_at, last_seen_at: session.created_at };
        records.sessions.insert(session.digest.clone(), stored);
        Ok(())
    }

    async fn session(&self, digest: &str) -> AccountsResult<Option<Session>> {
        Ok(self.records().sessions.get(digest).cloned())
    }

    async fn touch_session(&self, digest: &str, now: OffsetDateTime) -> AccountsResult<bool> {
        Ok(self.records().sessions.get_mut(digest).map(|session| session.last_seen_at = now).is_some())
    }

    async fn delete_session(&self, digest: &str) -> AccountsResult<bool> {
        Ok(self.records().sessions.remove(digest).is_some())
    }

    async fn delete_sessions_of(&self, email: &UserEmail) -> AccountsResult<u64> {
        let mut records = self.records();
        let before = records.sessions.len();
        records.sessions.retain(|_, session| session.email != *email);
        Ok((before - records.sessions.len()) as u64)
    }

    async fn delete_sessions_idle_since(&self, before: OffsetDateTime) -> AccountsResult<u64> {
        let mut records = self.records();
        let count = records.sessions.len();
        records.sessions.retain(|_, session| session.last_seen_at >= before);
        Ok((count - records.sessions.len()) as u64)
    }

    async fn record_failed_sign_in(&self, email: &UserEmail, at: OffsetDateTime) -> AccountsResult<()> {
        self.records().failures.push((email.clone(), at));
        Ok(())
    }

    async fn failed_sign_ins_since(
        &self,
        email: &UserEmail,
        since: OffsetDateTime,
    ) -> AccountsResult<Vec<OffsetDateTime>> {
        let mut times: Vec<OffsetDateTime> = self
            .records()
            .failures
            .iter()
            .filter(|(failed, at)| failed == email && *at >= since)
            .map(|(_, at)| *at)
            .collect();
        times.sort();
        Ok(times)
    }

    async fn clear_failed_sign_ins(&self, email: &UserEmail) -> AccountsResult<()> {
        self.records().failures.retain(|(failed, _)| failed != email);
        Ok(())
    }

    async fn forget_failed_sign_ins_before(&self, before: OffsetDateTime) -> AccountsResult<u64> {
        let mut records = self.records();
        let count = records.failures.len();
        records.failures.retain(|(_, at)| *at >= before);
        Ok((count - records.failures.len()) as u64)
    }
}
