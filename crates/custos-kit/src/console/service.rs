//! What a service gives the kit: [`ConsoleService`], implemented by its
//! axum state, and the [`Console`] it holds (its settings, its accounts
//! store, its clock).

use std::sync::Arc;

use async_trait::async_trait;
use custos_core::access::UserEmail;
use time::{Duration, OffsetDateTime};
use url::Url;

use super::accounts::{AccountsError, AccountsResult, ConsoleAccounts, LinkPurpose, NewLink};
use super::csrf::origin_of;
use super::lockout::LockoutPolicy;
use super::session::{ConsoleCookies, IdlePolicy, InvalidCookieName};
use crate::clock::Clock;
use crate::secret;

/// An error of the service's own (its store, its audit trail), passed
/// through the kit to be logged and answered 500 without detail.
pub type ServiceError = Box<dyn std::error::Error + Send + Sync>;

/// Settings that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleConfigError {
    #[error("public URL {0:?} is not an absolute http or https URL")]
    PublicUrl(String),
    #[error(transparent)]
    CookieName(#[from] InvalidCookieName),
}

/// How a service's console behaves.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    product_name: String,
    public_url: Url,
    public_origin: String,
    cookies: ConsoleCookies,
    /// When sessions end for want of use (12 hours by default).
    pub idle: IdlePolicy,
    /// When failed sign-ins lock an address (5 in 15 minutes, for 15 minutes).
    pub lockout: LockoutPolicy,
    /// How long an invite link can be followed (72 hours).
    pub invite_lifetime: Duration,
    /// How long a password reset link can be followed (72 hours).
    pub reset_lifetime: Duration,
}

impl ConsoleConfig {
    /// `product_name` titles every page ("Custos", "Custos Request
    /// Manager"); links are made under `public_url` (cookies are `Secure`
    /// when it is https); `session_cookie` names this service's cookies.
    pub fn new(
        product_name: &str,
        public_url: &str,
        session_cookie: &str,
    ) -> Result<ConsoleConfig, ConsoleConfigError> {
        let url = Url::parse(public_url).map_err(|_| ConsoleConfigError::PublicUrl(public_url.to_owned()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(ConsoleConfigError::PublicUrl(public_url.to_owned()));
        }
        let cookies = ConsoleCookies::new(session_cookie, url.scheme() == "https")?;
        Ok(ConsoleConfig {
            product_name: product_name.to_owned(),
            public_origin: origin_of(&url),
            public_url: url,
            cookies,
            idle: IdlePolicy::DEFAULT,
            lockout: LockoutPolicy::DEFAULT,
            invite_lifetime: Duration::hours(72),
            reset_lifetime: Duration::hours(72),
        })
    }

    pub fn product_name(&self) -> &str {
        &self.product_name
    }

    pub fn public_url(&self) -> &Url {
        &self.public_url
    }

    /// `scheme://host[:port]` of the public URL: the only origin forms may come from.
    pub fn public_origin(&self) -> &str {
        &self.public_origin
    }

    pub fn cookies(&self) -> &ConsoleCookies {
        &self.cookies
    }

    pub fn link_lifetime(&self, purpose: LinkPurpose) -> Duration {
        match purpose {
            LinkPurpose::Invite => self.invite_lifetime,
            LinkPurpose::PasswordReset => self.reset_lifetime,
        }
    }
}

/// A link just issued, to hand to its person (by email, or shown once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedLink {
    /// Absolute: `<public origin>/invite/<token>`.
    pub url: Url,
    pub expires_at: OffsetDateTime,
}

/// A service's console: settings, accounts store and clock. Cheap to clone.
#[derive(Clone)]
pub struct Console {
    config: Arc<ConsoleConfig>,
    accounts: Arc<dyn ConsoleAccounts>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Console {
    /// Also computes the dummy password hash (see
    /// [`crate::password::verify_password_or_dummy`]), once per process.
    pub fn new(config: ConsoleConfig, accounts: Arc<dyn ConsoleAccounts>, clock: Arc<dyn Clock>) -> Console {
        crate::password::prepare_dummy_hash();
        Console { config: Arc::new(config), accounts, clock }
    }

    pub fn config(&self) -> &ConsoleConfig {
        &self.config
    }

    pub fn accounts(&self) -> &dyn ConsoleAccounts {
        self.accounts.as_ref()
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Invites `email`: creates its login if needed and issues a link that
    /// sets its password. Inviting again issues another link; the first
    /// password set through any of them uses up the others.
    pub async fn invite(&self, email: &UserEmail) -> AccountsResult<IssuedLink> {
        self.accounts.ensure_login(email, self.now()).await?;
        self.issue_link(email, LinkPurpose::Invite).await
    }

    /// A link that replaces `email`'s password; [`AccountsError::NoLogin`]
    /// if there is no such login.
    pub async fn password_reset(&self, email: &UserEmail) -> AccountsResult<IssuedLink> {
        self.issue_link(email, LinkPurpose::PasswordReset).await
    }

    async fn issue_link(&self, email: &UserEmail, purpose: LinkPurpose) -> AccountsResult<IssuedLink> {
        let now = self.now();
        let issued = secret::issue();
        let expires_at = now + self.config.link_lifetime(purpose);
        let link = NewLink { digest: issued.digest, email: email.clone(), purpose, created_at: now, expires_at };
        self.accounts.insert_link(&link).await?;
        let url = self
            .config
            .public_url
            .join(&format!("/invite/{}", issued.secret))
            .map_err(|error| AccountsError::Corrupt(format!("link URL: {error}")))?;
        Ok(IssuedLink { url, expires_at })
    }

    /// Ends every session of `email`, on every node at its next request.
    pub async fn sign_out_everywhere(&self, email: &UserEmail) -> AccountsResult<u64> {
        self.accounts.delete_sessions_of(email).await
    }
}

/// Why a sign-in was refused, for the audit trail only: the person is told
/// "Incorrect email or password" whatever it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInRefusal {
    UnknownEmail,
    /// Invited, but the password was never set.
    NoPassword,
    WrongPassword,
    /// Too many failures; the password was not checked.
    LockedOut,
    /// The password was right, but the service grants this person nothing now.
    NoAccess,
}

/// What the console did, for the service's audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleEvent<'a> {
    SignedIn {
        email: &'a UserEmail,
    },
    SignInRefused {
        email: &'a UserEmail,
        reason: SignInRefusal,
    },
    SignedOut {
        email: &'a UserEmail,
    },
    /// A password was set through a link (and the person signed in).
    PasswordSet {
        email: &'a UserEmail,
        purpose: LinkPurpose,
    },
}

/// What a service implements (on its axum state) to use the console's
/// routes and extractors.
#[async_trait]
pub trait ConsoleService: Clone + Send + Sync + 'static {
    /// Who a signed-in person is to the service: their roles, permissions,
    /// workspaces.
    type Principal: Send + Sync + 'static;

    fn console(&self) -> &Console;

    /// Who `email` is now, or `None` when they may no longer use the console
    /// (their user was removed). Called on every request, so a change of
    /// role or a removal takes effect at once on every node: read the store,
    /// never a cache.
    async fn principal(&self, email: &UserEmail) -> Result<Option<Self::Principal>, ServiceError>;

    /// Records a sign-in, a refused sign-in, a sign-out or a password set.
    /// An error fails the request (500).
    async fn audit(&self, event: ConsoleEvent<'_>) -> Result<(), ServiceError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_url_sets_the_origin_and_whether_cookies_are_secure() {
        let config = ConsoleConfig::new("Custos", "https://privacy.example.com/", "custos_session").unwrap();
        assert_eq!(config.public_origin(), "https://privacy.example.com");
        assert_eq!(config.cookies().session.set("t", None), "custos_session=t; Path=/; HttpOnly; SameSite=Lax; Secure");
        let config = ConsoleConfig::new("Custos", "http://127.0.0.1:8080", "custos_rm_session").unwrap();
        assert_eq!(config.public_origin(), "http://127.0.0.1:8080");
        assert_eq!(config.cookies().session.set("t", None), "custos_rm_session=t; Path=/; HttpOnly; SameSite=Lax");
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let config = ConsoleConfig::new("Custos", "http://localhost:8080", "custos_session").unwrap();
        assert_eq!(config.idle.idle_timeout, Duration::hours(12));
        assert_eq!(config.lockout, LockoutPolicy::DEFAULT);
        assert_eq!(config.link_lifetime(LinkPurpose::Invite), Duration::hours(72));
        assert_eq!(config.link_lifetime(LinkPurpose::PasswordReset), Duration::hours(72));
    }

    #[test]
    fn unusable_settings_are_refused() {
        for url in ["", "localhost:8080", "ftp://example.com", "/relative"] {
            assert!(matches!(
                ConsoleConfig::new("Custos", url, "custos_session"),
                Err(ConsoleConfigError::PublicUrl(_))
            ));
        }
        assert!(matches!(
            ConsoleConfig::new("Custos", "http://localhost", "bad name"),
            Err(ConsoleConfigError::CookieName(_))
        ));
    }
}
