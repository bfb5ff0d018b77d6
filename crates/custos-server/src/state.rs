//! State shared by every handler.

use std::num::NonZeroU32;
use std::sync::Arc;

use custos_core::ids::{OrgId, WorkspaceId};
use custos_store::Store;
use governor::clock::{Clock, DefaultClock, QuantaInstant};
use governor::{DefaultKeyedRateLimiter, NotUntil, Quota, RateLimiter};

use crate::config::ServeConfig;
use crate::dsr::{self, DsrRuntime};
use crate::ingest::Ingestor;
use crate::input_cache::InputCache;

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config: Arc<ServeConfig>,
    /// Per-organization limit of the Custom Access Roles API. It lives in the
    /// process: with several nodes each enforces the limit on its own share.
    pub(crate) roles_limiter: Arc<DefaultKeyedRateLimiter<OrgId>>,
    /// Per-workspace limit of event batches, in process like the one above.
    pub(crate) events_limiter: Arc<DefaultKeyedRateLimiter<WorkspaceId>>,
    pub(crate) ingestor: Ingestor,
    pub(crate) inputs: Arc<InputCache>,
    pub(crate) dsr: Arc<DsrRuntime>,
}

impl AppState {
    pub(crate) fn new(store: Arc<dyn Store>, config: ServeConfig) -> AppState {
        let per_minute = NonZeroU32::new(config.roles_requests_per_minute).unwrap_or(NonZeroU32::MIN);
        let batches_per_second = NonZeroU32::new(config.events_batches_per_second).unwrap_or(NonZeroU32::MIN);
        AppState {
            dsr: Arc::new(DsrRuntime::new(store.clone(), &config, dsr::Clock::default())),
            ingestor: Ingestor::start(store.clone()),
            inputs: Arc::default(),
            store,
            roles_limiter: Arc::new(RateLimiter::keyed(Quota::per_minute(per_minute))),
            events_limiter: Arc::new(RateLimiter::keyed(Quota::per_second(batches_per_second))),
            config: Arc::new(config),
        }
    }
}

/// The whole seconds (rounded up) until a rate limiter allows the request:
/// the `Retry-After` of a 429.
pub(crate) fn retry_after_secs(not_until: &NotUntil<QuantaInstant>) -> u64 {
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}
