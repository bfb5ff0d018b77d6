//! The Data Subject Request API's machinery: the processor's identity and
//! signatures, the keyed hashes kept of subjects, the worker that carries
//! requests out, access exports, and status callbacks.
//!
//! Requests are their own durable job queue (`dsr_requests`): the HTTP side
//! writes a request and wakes the worker; any worker of any node takes a
//! due request's lease, does its steps (each idempotent, or recorded as a
//! phase so a resumed request skips it) and ends it. Callbacks are an outbox
//! written in the same transaction as the status change they report.

mod callbacks;
mod export;
pub(crate) mod network;
mod signing;
pub(crate) mod traces;
pub(crate) mod wire;
mod worker;

use std::num::NonZeroU32;
use std::time::Duration;

use custos_core::ids::WorkspaceId;
use custos_store::Store;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{watch, Notify, OnceCell};
use tokio::task::JoinHandle;

use crate::config::DsrConfig;
use crate::error::ApiError;
use crate::sealing::MasterKey;
use crate::state::AppState;
use network::CallbackPolicy;
pub(crate) use signing::ProcessorSigner;
use traces::TraceKeys;

pub(crate) struct DsrRuntime {
    pub(crate) config: DsrConfig,
    /// The base URL of `results_url` and of the certificate, without a trailing slash.
    pub(crate) public_url: String,
    /// `X-OpenDSR-Processor-Domain`: the public URL's host.
    pub(crate) domain: String,
    pub(crate) traces: TraceKeys,
    pub(crate) callback_policy: CallbackPolicy,
    pub(crate) requests_limiter: DefaultKeyedRateLimiter<WorkspaceId>,
    pub(crate) new_requests_limiter: DefaultKeyedRateLimiter<WorkspaceId>,
    /// Wakes the worker: a request was created.
    pub(crate) work: Notify,
    /// Wakes the callback sender: a status changed.
    pub(crate) callbacks: Notify,
    signer: OnceCell<ProcessorSigner>,
    master_key: MasterKey,
}

impl DsrRuntime {
    pub(crate) fn new(config: DsrConfig, public_url: &str, master_key: &MasterKey) -> DsrRuntime {
        let public_url = public_url.trim_end_matches('/').to_owned();
        let domain = url::Url::parse(&public_url)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_else(|| "localhost".into());
        let per_minute = NonZeroU32::new(config.requests_per_minute).unwrap_or(NonZeroU32::MIN);
        let per_day = NonZeroU32::new(config.new_requests_per_day).unwrap_or(NonZeroU32::MIN);
        let day_quota = Quota::with_period(Duration::from_secs(86_400) / per_day.get())
            .expect("a day divided by a u32 is not zero")
            .allow_burst(per_day);
        DsrRuntime {
            traces: TraceKeys::new(master_key),
            callback_policy: CallbackPolicy::new(config.allowed_callback_networks.clone()),
            requests_limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            new_requests_limiter: RateLimiter::keyed(day_quota),
            work: Notify::new(),
            callbacks: Notify::new(),
            signer: OnceCell::new(),
            master_key: master_key.clone(),
            config,
            public_url,
            domain,
        }
    }

    /// The signer, loaded or created on first use.
    pub(crate) async fn signer(&self, store: &dyn Store) -> Result<&ProcessorSigner, ApiError> {
        self.signer
            .get_or_try_init(|| {
                ProcessorSigner::load(
                    store,
                    &self.master_key,
                    self.config.processor_identity.as_ref(),
                    &self.domain,
                    time::OffsetDateTime::now_utc(),
                )
            })
            .await
            .map_err(|e| ApiError::Internal(Box::new(e)))
    }

    pub(crate) fn certificate_url(&self) -> String {
        format!("{}/v3/certificate.pem", self.public_url)
    }
}

pub(crate) fn now_ms() -> i64 {
    unix_ms(time::OffsetDateTime::now_utc())
}

/// Milliseconds since the Unix epoch, as requests' `_ms` times count.
pub(crate) fn unix_ms(at: time::OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Loads or creates the processor's key, then starts the worker and the
/// callback sender; they stop when `stop` turns true.
pub(crate) fn start(state: &AppState, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let signing = state.clone();
    tokio::spawn(async move {
        if let Err(error) = signing.dsr.signer(&*signing.store).await {
            tracing::error!(%error, "the processor's signing key is unavailable; DSR responses will fail");
        }
    });
    vec![tokio::spawn(worker::run(state.clone(), stop.clone())), tokio::spawn(callbacks::run(state.clone(), stop))]
}
