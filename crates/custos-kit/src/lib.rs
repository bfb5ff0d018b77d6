//! What Custos's services share. For now, the web console's half that both
//! `custos serve` (the platform) and `custos rm serve` (the Request Manager)
//! build their consoles on: sign-in with one-time links and Argon2id
//! passwords, sessions, CSRF protection, lockout, accessible forms, and the
//! look, as server-rendered HTML with `maud`.
//!
//! # Layout
//! - [`clock`]: [`clock::Clock`], the system's and one tests set by hand.
//! - [`secret`]: 256-bit random secrets, their SHA-256 digests for storage,
//!   constant-time checks.
//! - [`password`]: the rule for new passwords, Argon2id hashing and
//!   verification that takes as long for an unknown account.
//! - [`console`]: the console itself.
//!   - [`console::service`]: [`console::ConsoleService`], which a service
//!     implements on its axum state, and [`console::Console`] (settings,
//!     accounts store, clock; issuing invite and reset links).
//!   - [`console::accounts`]: [`console::ConsoleAccounts`], the storage
//!     contract each service's store implements (logins, one-time links,
//!     sessions, failed sign-ins), with the tables it maps onto.
//!   - [`console::session`], [`console::csrf`], [`console::lockout`],
//!     [`console::redirect`]: cookies and idle expiry, CSRF tokens and the
//!     origin check, the lockout policy, the `next` of the sign-in page.
//!     Pure functions, unit-tested.
//!   - [`console::extract`]: the extractors [`console::SignedIn`] and
//!     [`console::CsrfForm`].
//!   - [`console::routes`]: the router every console merges: `/login`,
//!     `/invite/{token}`, `/logout`, `/assets/{file}`.
//!   - [`console::layout`], [`console::form`], [`console::components`],
//!     [`console::pages`], [`console::flash`]: the page shell, fields with
//!     their errors, tables, badges, buttons, the secret shown once, the
//!     error pages, flash messages. `console/assets/` holds the stylesheet
//!     and the script, compiled in and served by [`console::assets`].
//! - `testing` (feature `testing`): the accounts conformance suite and the
//!   runner of browser scripts in `clients/` (headless Chromium, axe-core).
//!
//! **Invariant:** no token is stored, only its SHA-256 digest; no page
//! loads anything from another origin (a content security policy says so).
//!
//! **Invariant:** a session is looked up in the store, and its person in
//! the service, on every request: removing a user or changing a role takes
//! effect at once on every node.

pub mod clock;
pub mod console;
pub mod password;
pub mod secret;
#[cfg(feature = "testing")]
pub mod testing;
