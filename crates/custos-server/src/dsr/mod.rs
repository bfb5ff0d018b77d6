//! The Data Subject Request API's machinery: the processor's identity and
//! signatures, the keyed hashes kept of subjects, the worker that carries
//! requests out, access exports, and status callbacks.
//!
//! Requests are their own durable job queue (`dsr_requests`): the HTTP side
//! writes a request and wakes the worker; any worker of any node takes a
//! due request's lease, does its steps (each idempotent, or recorded as a
//! phase so a resumed request skips it) and ends it. Callbacks are an outbox
//! written in the same transaction as the status change they report.
//!
//! [`DsrRuntime`] holds everything the machinery needs (the store, its
//! settings, the signer, the hasher, the clock), so that it depends on
//! nothing of the HTTP layer; [`DsrWorker`] is one worker, which `serve`
//! runs in the background and tests step by hand.

mod callbacks;
mod error;
mod export;
pub(crate) mod network;
mod signing;
pub(crate) mod traces;
pub(crate) mod wire;
mod worker;

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use custos_core::ids::WorkspaceId;
use custos_store::{Store, StoreError};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{watch, Notify, OnceCell};
use tokio::task::JoinHandle;

use crate::config::{DsrConfig, ServeConfig};
use crate::sealing::MasterKey;
pub(crate) use error::DsrError;
use network::CallbackPolicy;
pub(crate) use signing::ProcessorSigner;
use traces::TraceKeys;

pub(crate) struct DsrRuntime {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config: DsrConfig,
    /// The base URL of `results_url` and of the certificate, without a trailing slash.
    pub(crate) public_url: String,
    /// `X-OpenDSR-Processor-Domain`: the public URL's host.
    pub(crate) domain: String,
    pub(crate) traces: TraceKeys,
    pub(crate) callback_policy: CallbackPolicy,
    pub(crate) clock: Clock,
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
    /// The machinery for `config`; without a public URL, `http://localhost`.
    pub(crate) fn new(store: Arc<dyn Store>, config: &ServeConfig, clock: Clock) -> DsrRuntime {
        let public_url = config.public_url.as_deref().unwrap_or("http://localhost").trim_end_matches('/').to_owned();
        let domain = url::Url::parse(&public_url)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_else(|| "localhost".into());
        let dsr = config.dsr.clone();
        let per_minute = NonZeroU32::new(dsr.requests_per_minute).unwrap_or(NonZeroU32::MIN);
        let per_day = NonZeroU32::new(dsr.new_requests_per_day).unwrap_or(NonZeroU32::MIN);
        let day_quota = Quota::with_period(Duration::from_secs(86_400) / per_day.get())
            .expect("a day divided by a u32 is not zero")
            .allow_burst(per_day);
        DsrRuntime {
            store,
            traces: TraceKeys::new(&config.master_key),
            callback_policy: CallbackPolicy::new(dsr.allowed_callback_networks.clone()),
            clock,
            requests_limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            new_requests_limiter: RateLimiter::keyed(day_quota),
            work: Notify::new(),
            callbacks: Notify::new(),
            signer: OnceCell::new(),
            master_key: config.master_key.clone(),
            config: dsr,
            public_url,
            domain,
        }
    }

    /// The signer, loaded or created on first use.
    pub(crate) async fn signer(&self) -> Result<&ProcessorSigner, DsrError> {
        let load = || {
            let configured = self.config.processor_identity.as_ref();
            ProcessorSigner::load(&*self.store, &self.master_key, configured, &self.domain, self.clock.now())
        };
        Ok(self.signer.get_or_try_init(load).await?)
    }

    pub(crate) fn certificate_url(&self) -> String {
        format!("{}/v3/certificate.pem", self.public_url)
    }
}

/// The time as the machinery of data subject requests reads it: the
/// system's, moved on by however much [`Clock::advance`] was told. Tests
/// advance it to make a retry due without waiting for it.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    ahead_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The time now.
    pub fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc() + time::Duration::milliseconds(self.ahead_ms.load(Ordering::Relaxed))
    }

    /// Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        unix_ms(self.now())
    }

    /// Moves this clock (and its clones) on by `by`.
    pub fn advance(&self, by: Duration) {
        self.ahead_ms.fetch_add(millis(by), Ordering::Relaxed);
    }
}

/// The system's time, in Unix milliseconds.
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

/// What one [`DsrWorker::run_once`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkOutcome {
    /// No request was due.
    Idle,
    /// A request was taken and carried out, or its failed attempt recorded.
    Processed,
}

/// A worker of data subject requests and the sender of their callbacks.
/// `serve` runs one in the background (unless `DsrConfig::run_workers` is
/// off); tests make one for the store of a server and step it by hand, as
/// another node's worker would take the same rows.
pub struct DsrWorker {
    runtime: Arc<DsrRuntime>,
    /// Names this worker's leases.
    owner: String,
    /// The callbacks' client: every address it connects to passes the callback policy.
    client: reqwest::Client,
}

impl DsrWorker {
    /// A worker on `store`, reading time from `clock`.
    pub fn new(store: Arc<dyn Store>, config: &ServeConfig, clock: Clock) -> DsrWorker {
        DsrWorker::on(Arc::new(DsrRuntime::new(store, config, clock)))
    }

    pub(crate) fn on(runtime: Arc<DsrRuntime>) -> DsrWorker {
        DsrWorker { client: callbacks::client(&runtime.callback_policy), runtime, owner: worker::new_owner() }
    }

    /// Takes one due request, if any, and carries it out; a failure is
    /// recorded on the request (retried later, or failed with the reason).
    /// Errors only when no request could be taken.
    pub async fn run_once(&self) -> Result<WorkOutcome, StoreError> {
        worker::run_once(&self.runtime, &self.owner).await
    }

    /// Sends the callbacks due (at most 32, the oldest owed to each URL of
    /// each request) and records each answer. Returns how many were sent.
    pub async fn send_callbacks_once(&self) -> Result<usize, StoreError> {
        callbacks::send_due(&self.runtime, &self.client).await
    }
}

/// Loads or creates the processor's key, then starts the worker and the
/// callback sender unless `run_workers` is off; they stop when `stop` turns true.
pub(crate) fn start(runtime: Arc<DsrRuntime>, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let signing = runtime.clone();
    tokio::spawn(async move {
        if let Err(error) = signing.signer().await {
            tracing::error!(%error, "the processor's signing key is unavailable; DSR responses will fail");
        }
    });
    if !runtime.config.run_workers {
        return Vec::new();
    }
    let worker = Arc::new(DsrWorker::on(runtime));
    vec![tokio::spawn(worker::run(worker.clone(), stop.clone())), tokio::spawn(callbacks::run(worker, stop))]
}
