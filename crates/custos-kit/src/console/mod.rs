//! The web console's shared half: what `custos serve` and `custos rm serve`
//! both need to put pages in front of people.
//!
//! A service implements [`ConsoleService`] on its axum state (its
//! [`Console`]: settings, accounts store, clock; who a signed-in person is;
//! where sign-ins are audited), merges [`router`] into its router, and
//! writes its pages as handlers that take [`SignedIn`] (and [`CsrfForm`]
//! for forms) and draw with [`layout`], [`form`] and [`components`].

pub mod accounts;
pub mod assets;
pub mod components;
pub mod csrf;
pub mod error;
pub mod extract;
pub mod flash;
pub mod form;
pub mod layout;
pub mod lockout;
pub mod pages;
pub mod redirect;
pub mod routes;
pub mod service;
pub mod session;

pub use accounts::{AccountsError, AccountsResult, ConsoleAccounts, LinkPurpose};
pub use error::ConsoleError;
pub use extract::{CsrfForm, SignedIn};
pub use flash::{Flash, Flashes};
pub use routes::router;
pub use service::{Console, ConsoleConfig, ConsoleEvent, ConsoleService, IssuedLink, ServiceError, SignInRefusal};
