//! Settings of `custos serve` that the HTTP layer reads.

use std::time::Duration;

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
        }
    }

    pub fn accepts_audience(&self, audience: &str) -> bool {
        audience == MPARTICLE_AUDIENCE || self.extra_audiences.iter().any(|extra| extra == audience)
    }
}
