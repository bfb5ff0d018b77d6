//! The HTTP routes, one module per API, at mParticle's own paths.

mod dsr;
mod dsr_admin;
mod events;
mod health;
mod identity;
mod oauth;
mod profile;
mod roles;
mod users;

use axum::Router;

use crate::state::AppState;

/// The base path of the Custom Access Roles API.
const ORG_ACCOUNT: &str = "/platform/v2/organizations/{org_id}/accounts/{account_id}";

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .merge(health::router())
        .merge(oauth::router())
        .merge(events::router())
        .merge(identity::router())
        .merge(profile::router())
        .merge(dsr::router())
        .nest(ORG_ACCOUNT, roles::router().merge(users::router()).merge(dsr_admin::router()))
}
