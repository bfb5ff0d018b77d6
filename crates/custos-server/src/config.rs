//! Settings of `custos serve` that the HTTP layer reads.

use std::time::Duration;

use custos_core::dsr::{RetryPolicy, SchedulePolicy};
use ipnet::IpNet;

use crate::sealing::MasterKey;

/// The audience every token request may name: mParticle's own API host, so
/// that clients written for mParticle work unchanged.
pub const MPARTICLE_AUDIENCE: &str = "https://api.mparticle.com";

#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Audiences accepted at `/oauth/token` besides [`MPARTICLE_AUDIENCE`].
    pub extra_audiences: Vec<String>,
    /// How long an access token lives. mParticle's last 8 hours.
    pub token_ttl: Duration,
    /// Requests per minute per organization to the Custom Access Roles API.
    pub roles_requests_per_minute: u32,
    /// Largest request body accepted; larger ones get 413 before being read.
    pub max_body_bytes: usize,
    /// A request still unanswered after this long gets 408.
    pub request_timeout: Duration,
    /// Event batches per second per workspace, mParticle's default 270.
    pub events_batches_per_second: u32,
    /// Opens the sealed input secrets that HMAC signatures need.
    pub master_key: MasterKey,
    /// The base URL clients reach this server at, for `results_url` and the
    /// certificate URL. `None`: `http://` and the listening address.
    pub public_url: Option<String>,
    pub dsr: DsrConfig,
}

/// Settings of the Data Subject Request API and of its processing.
#[derive(Debug, Clone)]
pub struct DsrConfig {
    pub schedule: SchedulePolicy,
    /// Requests per minute per workspace to the DSR API (mParticle: 1000).
    pub requests_per_minute: u32,
    /// New requests per day per workspace (mParticle: 80,000).
    pub new_requests_per_day: u32,
    /// Private networks callbacks may reach; public addresses always may.
    pub allowed_callback_networks: Vec<IpNet>,
    /// A callback unanswered for this long after its status change is abandoned.
    pub callback_give_up: Duration,
    /// Retries of a request whose processing failed.
    pub processing_retry: RetryPolicy,
    /// How long a worker holds a request without renewing; after a crash,
    /// another worker resumes it once this has passed.
    pub lease: Duration,
    /// How often idle workers look for due requests and callbacks.
    pub poll_interval: Duration,
    /// Whether `serve` runs a worker and a callback sender in the
    /// background. Off, requests wait for another node's worker, or for a
    /// test to step a `DsrWorker` of its own.
    pub run_workers: bool,
    /// How long an access export can be downloaded.
    pub export_ttl: Duration,
    /// The processor's certificate and private key (PEM), when the operator
    /// supplies them; otherwise a key pair is generated on first use and kept
    /// in the store.
    pub processor_identity: Option<ProcessorIdentityPem>,
}

#[derive(Clone)]
pub struct ProcessorIdentityPem {
    pub certificate_pem: String,
    pub private_key_pem: String,
}

impl std::fmt::Debug for ProcessorIdentityPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessorIdentityPem").finish_non_exhaustive()
    }
}

impl DsrConfig {
    /// mParticle's limits and waiting period.
    pub fn mparticle_defaults() -> DsrConfig {
        DsrConfig {
            schedule: SchedulePolicy {
                erasure_waiting_period: Duration::from_secs(7 * 24 * 60 * 60),
                skipped_waiting_period: Duration::ZERO,
            },
            requests_per_minute: 1000,
            new_requests_per_day: 80_000,
            allowed_callback_networks: Vec::new(),
            callback_give_up: Duration::from_secs(3 * 24 * 60 * 60),
            processing_retry: RetryPolicy {
                first_delay: Duration::from_secs(5),
                max_delay: Duration::from_secs(30 * 60),
                max_attempts: 8,
            },
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            run_workers: true,
            export_ttl: Duration::from_secs(7 * 24 * 60 * 60),
            processor_identity: None,
        }
    }
}

impl ServeConfig {
    /// The settings of mParticle itself, with a fresh master key.
    pub fn mparticle_defaults() -> ServeConfig {
        ServeConfig {
            extra_audiences: Vec::new(),
            token_ttl: Duration::from_secs(8 * 60 * 60),
            roles_requests_per_minute: 100,
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            events_batches_per_second: 270,
            master_key: MasterKey::generate(),
            public_url: None,
            dsr: DsrConfig::mparticle_defaults(),
        }
    }

    pub fn accepts_audience(&self, audience: &str) -> bool {
        audience == MPARTICLE_AUDIENCE || self.extra_audiences.iter().any(|extra| extra == audience)
    }
}
