//! Helpers for the test suites of the services built on the kit (feature
//! `testing`): the conformance suite every [`crate::console::ConsoleAccounts`]
//! runs, and the runner of browser scripts from `clients/`.

pub mod accounts;
pub mod browser;
