//! Integration tests: the real server on a random port, spoken to over real
//! HTTP, once per storage backend.

mod dsr;
mod events;
mod helpers;
mod http;
mod identity;
mod oauth;
mod profile;
mod roles;
mod users;
