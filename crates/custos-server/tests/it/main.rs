//! Integration tests: the real server on a random port, spoken to over real
//! HTTP, once per storage backend.

mod events;
mod helpers;
mod identity;
mod profile;
mod http;
mod oauth;
mod roles;
mod users;
