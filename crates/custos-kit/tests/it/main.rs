//! The kit's integration tests, one binary: the accounts conformance suite
//! on the in-memory accounts, the console over real HTTP against a tiny demo
//! service built on the kit, and the same demo driven in headless Chromium
//! with axe-core.

mod browser;
mod client;
mod conformance;
mod demo;
mod http;
mod memory_accounts;
