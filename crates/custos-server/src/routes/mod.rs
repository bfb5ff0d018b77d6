//! The HTTP routes, one module per API, at mParticle's own paths.

mod health;
mod oauth;
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
        .nest(ORG_ACCOUNT, roles::router().merge(users::router()))
}
