//! People and tokens: users with a role (their sign-in is the kit's
//! console, over this store), API tokens with a role, and the audit log.

use std::sync::Arc;

use custos_core::access::UserEmail;
use custos_kit::console::{AccountsError, Console, ConsoleConfig, IssuedLink};
use custos_kit::secret;
use time::OffsetDateTime;

use super::RequestManager;
use crate::domain::role::{Actor, Role};
use crate::error::RmError;
use crate::store::{ActivityEntry, ApiToken, RmAccounts, User};

/// The console's name, on every page.
pub const PRODUCT_NAME: &str = "Custos Request Manager";
/// The console's session cookie; its other cookies are named after it.
pub const SESSION_COOKIE: &str = "custos_rm_session";

fn email(text: &str) -> Result<UserEmail, RmError> {
    UserEmail::parse(text).map_err(|error| RmError::invalid("email", format!("{error}")))
}

fn accounts(error: AccountsError) -> RmError {
    match error {
        AccountsError::NoLogin(email) => RmError::NotFound(format!("{email} has no sign-in")),
        other => RmError::Internal(other.to_string()),
    }
}

impl RequestManager {
    /// The console over this store: its links are made under the public URL.
    pub fn console(&self) -> Result<Console, RmError> {
        let config = ConsoleConfig::new(PRODUCT_NAME, self.config.public_url.as_str(), SESSION_COOKIE)
            .map_err(|error| RmError::Internal(error.to_string()))?;
        Ok(Console::new(config, Arc::new(RmAccounts(self.store.clone())), self.clock.clone()))
    }

    /// Adds a user (or changes an existing one's role) and issues a
    /// one-time link that sets their password.
    pub async fn invite_user(
        &self,
        address: &str,
        role: Role,
        notify: Option<bool>,
        actor: &Actor,
    ) -> Result<(User, IssuedLink), RmError> {
        let email = email(address)?;
        let user = self.store.put_user(email.as_str(), role, notify, self.now()).await?;
        let link = self.console()?.invite(&email).await.map_err(accounts)?;
        let event = format!("invited {} as {}", user.email, role.label());
        self.store.record_activity(&actor.display(), &event, self.now()).await?;
        Ok((user, link))
    }

    /// A one-time link that replaces a user's password (and signs them out everywhere once used).
    pub async fn reset_password(&self, address: &str, actor: &Actor) -> Result<IssuedLink, RmError> {
        let email = email(address)?;
        if self.store.user(email.as_str()).await?.is_none() {
            return Err(RmError::NotFound(format!("no user has email {email}")));
        }
        let console = self.console()?;
        console.accounts().ensure_login(&email, self.now()).await.map_err(accounts)?;
        let link = console.password_reset(&email).await.map_err(accounts)?;
        self.store
            .record_activity(&actor.display(), &format!("issued a password reset link for {email}"), self.now())
            .await?;
        Ok(link)
    }

    pub async fn users(&self) -> Result<Vec<User>, RmError> {
        Ok(self.store.list_users().await?)
    }

    /// Who `address` is now; `None` once removed. Read on every console request.
    pub async fn user(&self, address: &str) -> Result<Option<User>, RmError> {
        Ok(self.store.user(address).await?)
    }

    /// Changes a user's role or notices; the last Super Admin stays one.
    pub async fn update_user(
        &self,
        address: &str,
        role: Option<Role>,
        notify: Option<bool>,
        actor: &Actor,
    ) -> Result<User, RmError> {
        let email = email(address)?;
        let user = self
            .store
            .update_user(email.as_str(), role, notify)
            .await?
            .ok_or_else(|| RmError::NotFound(format!("no user has email {email}")))?;
        let event = format!(
            "changed {}: role {}, operator notices {}",
            user.email,
            user.role.label(),
            if user.notify { "on" } else { "off" }
        );
        self.store.record_activity(&actor.display(), &event, self.now()).await?;
        Ok(user)
    }

    /// Removes a user and their sign-in; their sessions end at once.
    pub async fn remove_user(&self, address: &str, actor: &Actor) -> Result<(), RmError> {
        let email = email(address)?;
        if !self.store.remove_user(email.as_str()).await? {
            return Err(RmError::NotFound(format!("no user has email {email}")));
        }
        self.store.record_activity(&actor.display(), &format!("removed {email}"), self.now()).await?;
        Ok(())
    }

    /// A new API token with `role`; only its digest is kept. Returns it once.
    pub async fn issue_api_token(&self, role: Role, name: &str, actor: &Actor) -> Result<(String, ApiToken), RmError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.contains(char::is_control) {
            return Err(RmError::invalid("name", "must be 1 to 100 characters"));
        }
        let issued = secret::issue();
        self.store.add_api_token(&issued.digest, name, role, self.now()).await?;
        let event = format!("issued the API token {name} as {}", role.label());
        self.store.record_activity(&actor.display(), &event, self.now()).await?;
        Ok((issued.secret, ApiToken { name: name.to_owned(), role }))
    }

    /// The token `presented` is, if it was issued: looked up by its digest.
    pub async fn authenticate_token(&self, presented: &str) -> Result<Option<ApiToken>, RmError> {
        Ok(self.store.api_token(&secret::digest(presented.trim())).await?)
    }

    /// Records something a person or token did outside a request (a sign-in).
    pub async fn record_activity(&self, actor: &Actor, event: &str) -> Result<(), RmError> {
        Ok(self.store.record_activity(&actor.display(), event, self.now()).await?)
    }

    /// The audit log, newest first: `limit` lines before `before`.
    pub async fn audit_log(&self, before: Option<OffsetDateTime>, limit: i64) -> Result<Vec<ActivityEntry>, RmError> {
        Ok(self.store.audit_log(before, limit).await?)
    }
}
