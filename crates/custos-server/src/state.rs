//! State shared by every handler.

use std::num::NonZeroU32;
use std::sync::Arc;

use custos_core::ids::OrgId;
use custos_store::Store;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::ServeConfig;

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config: Arc<ServeConfig>,
    /// Per-organization limit of the Custom Access Roles API. It lives in the
    /// process: with several nodes each enforces the limit on its own share.
    pub(crate) roles_limiter: Arc<DefaultKeyedRateLimiter<OrgId>>,
}

impl AppState {
    pub(crate) fn new(store: Arc<dyn Store>, config: ServeConfig) -> AppState {
        let per_minute =
            NonZeroU32::new(config.roles_requests_per_minute).unwrap_or(NonZeroU32::MIN);
        AppState {
            store,
            roles_limiter: Arc::new(RateLimiter::keyed(Quota::per_minute(per_minute))),
            config: Arc::new(config),
        }
    }
}
