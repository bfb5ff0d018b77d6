//! Calls to processors: pacing under each API's documented rate limit,
//! short in-memory retries, `429` and `Retry-After` honoured, and counts of
//! what was sent and refused.
//!
//! Longer waits are not spent here: a call that still fails comes back as a
//! [`CallError::Transient`], and the worker schedules the job's next attempt
//! in the store, so it survives a restart.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use tokio::time::Instant;

use crate::domain::job::Event;

/// The APIs a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    Dsr,
    Identity,
    Events,
}

impl Api {
    pub const ALL: [Api; 3] = [Api::Dsr, Api::Identity, Api::Events];

    pub fn name(self) -> &'static str {
        match self {
            Api::Dsr => "Data Subject Request API (v3)",
            Api::Identity => "Identity API (v1)",
            Api::Events => "Events API (v2)",
        }
    }

    pub fn short_name(self) -> &'static str {
        match self {
            Api::Dsr => "dsr",
            Api::Identity => "identity",
            Api::Events => "events",
        }
    }

    /// The rate limit mParticle documents (Default Service Limits), which
    /// Custos enforces too: requests per period, per workspace.
    pub fn documented_limit(self) -> (u32, Duration) {
        match self {
            // Across GET, POST and DELETE.
            Api::Dsr => (1000, Duration::from_secs(60)),
            Api::Events => (270, Duration::from_secs(1)),
            // mParticle publishes no figure for IDSync; this is a conservative choice.
            Api::Identity => (50, Duration::from_secs(1)),
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The share of a documented limit the pacers aim at, leaving headroom for
/// clock drift between us and the processor's limiter.
pub const PACING_SHARE: f64 = 0.95;

/// Waits that the pacer spends in memory; a processor that asks for longer
/// gets the job rescheduled instead.
const MAX_IN_MEMORY_WAIT: Duration = Duration::from_secs(5);
const MAX_PACER_WAIT: Duration = Duration::from_secs(30);

/// Spaces out calls to one API of one workspace.
pub(crate) struct Pacer {
    limiter: DefaultDirectRateLimiter,
    blocked_until: Mutex<Option<Instant>>,
}

impl Pacer {
    pub(crate) fn new(count: u32, period: Duration, share: f64) -> Pacer {
        let interval = period.div_f64(f64::from(count) * share).max(Duration::from_micros(1));
        let quota = Quota::with_period(interval).expect("a non-zero interval").allow_burst(NonZeroU32::MIN);
        Pacer { limiter: RateLimiter::direct(quota), blocked_until: Mutex::new(None) }
    }

    /// Waits for this call's slot, or says how long the processor asked
    /// everyone to wait if that is longer than `max_wait`.
    pub(crate) async fn acquire(&self, max_wait: Duration) -> Result<(), Duration> {
        loop {
            let blocked = *self.blocked_until.lock().expect("pacer lock");
            if let Some(until) = blocked {
                let now = Instant::now();
                if until > now {
                    let wait = until - now;
                    if wait > max_wait {
                        return Err(wait);
                    }
                    tokio::time::sleep(wait).await;
                }
            }
            self.limiter.until_ready().await;
            // A 429 may have come back while this call queued for its slot.
            if self.blocked_until.lock().expect("pacer lock").is_none_or(|until| until <= Instant::now()) {
                return Ok(());
            }
        }
    }

    /// Holds every call back for `wait`, as a 429's `Retry-After` asks.
    pub(crate) fn block_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut blocked = self.blocked_until.lock().expect("pacer lock");
        if blocked.is_none_or(|current| current < until) {
            *blocked = Some(until);
        }
    }
}

/// Counts of calls per API, for the stats endpoint and the benchmark.
#[derive(Debug, Default)]
pub struct Metrics {
    calls: [AtomicU64; 3],
    throttled: [AtomicU64; 3],
    failed: [AtomicU64; 3],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApiCounts {
    /// Requests sent.
    pub calls: u64,
    /// Of which answered 429.
    pub throttled: u64,
    /// Of which failed for another reason worth a retry (5xx, network).
    pub failed: u64,
}

impl Metrics {
    pub fn counts(&self, api: Api) -> ApiCounts {
        let i = api.index();
        ApiCounts {
            calls: self.calls[i].load(Ordering::Relaxed),
            throttled: self.throttled[i].load(Ordering::Relaxed),
            failed: self.failed[i].load(Ordering::Relaxed),
        }
    }
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// Worth another try later.
    Transient { cause: String, retry_after: Option<Duration> },
    /// Will not succeed by retrying.
    Rejected { cause: String },
}

impl CallError {
    pub fn cause(&self) -> &str {
        match self {
            CallError::Transient { cause, .. } | CallError::Rejected { cause } => cause,
        }
    }

    pub fn into_event(self) -> Event {
        match self {
            CallError::Transient { cause, retry_after } => Event::Transient { cause, retry_after },
            CallError::Rejected { cause } => Event::Rejected { cause },
        }
    }
}

/// A processor's answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    /// The error message of an mParticle error body, if it has one.
    pub(crate) fn message(&self) -> Option<String> {
        let value: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
        text(&value["message"])
            .or_else(|| text(&value["errors"][0]["message"]))
            .or_else(|| text(&value["Errors"][0]["message"]))
            .or_else(|| text(&value["error"]["message"]))
            .map(|message| message.chars().take(300).collect())
    }

    pub(crate) fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// How many times a call is tried in memory before the caller hears of it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attempts(pub(crate) u32);

/// The HTTP side of talking to processors: one client, one pacer per
/// (API, host, key), and the counts.
pub(crate) struct Transport {
    client: reqwest::Client,
    pacers: Mutex<HashMap<(Api, String, String), Arc<Pacer>>>,
    share: f64,
    pub(crate) metrics: Metrics,
}

impl Transport {
    pub(crate) fn new(share: f64) -> Transport {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("custos-rm/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client with default TLS settings");
        Transport { client, pacers: Mutex::new(HashMap::new()), share, metrics: Metrics::default() }
    }

    fn pacer(&self, api: Api, base: &str, key: &str) -> Arc<Pacer> {
        let mut pacers = self.pacers.lock().expect("pacers lock");
        pacers
            .entry((api, origin(base).to_owned(), key.to_owned()))
            .or_insert_with(|| {
                let (count, period) = api.documented_limit();
                Arc::new(Pacer::new(count, period, self.share))
            })
            .clone()
    }

    /// Sends the request `build` makes, paced, retrying 5xx, network errors
    /// and short 429s in memory. Any answer other than those is returned for
    /// the caller to read; `max_body` bounds what is read of it.
    pub(crate) async fn send(
        &self,
        api: Api,
        base: &str,
        key: &str,
        attempts: Attempts,
        max_body: usize,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Reply, CallError> {
        let pacer = self.pacer(api, base, key);
        let counts = api.index();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= attempts.0;
            if let Err(wait) = pacer.acquire(MAX_PACER_WAIT).await {
                return Err(CallError::Transient {
                    cause: format!("the {} asked to wait {}s", api.name(), wait.as_secs()),
                    retry_after: Some(wait),
                });
            }
            self.metrics.calls[counts].fetch_add(1, Ordering::Relaxed);
            let response = match build(&self.client).send().await {
                Ok(response) => response,
                Err(error) => {
                    self.metrics.failed[counts].fetch_add(1, Ordering::Relaxed);
                    let cause = format!("could not reach the {}: {}", api.name(), describe(&error));
                    if last {
                        return Err(CallError::Transient { cause, retry_after: None });
                    }
                    tokio::time::sleep(short_backoff(attempt)).await;
                    continue;
                }
            };
            let status = response.status();
            let retry_after = retry_after(response.headers());
            if status == StatusCode::TOO_MANY_REQUESTS {
                self.metrics.throttled[counts].fetch_add(1, Ordering::Relaxed);
                let wait = retry_after.unwrap_or_else(|| short_backoff(attempt));
                pacer.block_for(wait);
                if last || wait > MAX_IN_MEMORY_WAIT {
                    return Err(CallError::Transient {
                        cause: format!("the {} is throttling (HTTP 429)", api.name()),
                        retry_after: Some(wait),
                    });
                }
                continue;
            }
            if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
                self.metrics.failed[counts].fetch_add(1, Ordering::Relaxed);
                if last {
                    return Err(CallError::Transient {
                        cause: format!("the {} answered HTTP {}", api.name(), status.as_u16()),
                        retry_after,
                    });
                }
                tokio::time::sleep(retry_after.unwrap_or_else(|| short_backoff(attempt)).min(MAX_IN_MEMORY_WAIT)).await;
                continue;
            }
            return match read_limited(response, max_body).await {
                Ok(body) => Ok(Reply { status, body }),
                Err(cause) if last => Err(CallError::Transient { cause, retry_after: None }),
                Err(_) => continue,
            };
        }
    }
}

fn short_backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64 << attempt.min(6))
}

/// `Retry-After` in seconds, as mParticle sends it.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers.get("retry-after")?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds.min(24 * 60 * 60)))
}

/// What went wrong, without the URL (which may carry an id) or a body.
fn describe(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "the request failed"
    }
}

async fn read_limited(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    if response.content_length().is_some_and(|length| length > max as u64) {
        return Err(format!("the answer is larger than {max} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("reading the answer: {}", describe(&e)))? {
        if body.len() + chunk.len() > max {
            return Err(format!("the answer is larger than {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `scheme://host[:port]` of a URL.
pub(crate) fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(slash) => &url[..after_scheme + slash],
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_drop_the_path() {
        assert_eq!(origin("https://opendsr.mparticle.com/v3/requests/1"), "https://opendsr.mparticle.com");
        assert_eq!(origin("http://127.0.0.1:9000/v3"), "http://127.0.0.1:9000");
        assert_eq!(origin("http://127.0.0.1:9000"), "http://127.0.0.1:9000");
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[tokio::test]
    async fn a_pacer_spaces_calls_under_the_limit() {
        // The limiter keeps its own (real) clock.
        let pacer = Pacer::new(600, Duration::from_secs(60), 1.0);
        let start = std::time::Instant::now();
        for _ in 0..11 {
            pacer.acquire(MAX_PACER_WAIT).await.unwrap();
        }
        // One call at once, then one every 100 ms.
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(990) && elapsed <= Duration::from_millis(1300), "{elapsed:?}");
    }

    #[tokio::test]
    async fn a_retry_after_holds_every_call_back() {
        let pacer = Pacer::new(1000, Duration::from_secs(1), 1.0);
        pacer.block_for(Duration::from_millis(300));
        let start = std::time::Instant::now();
        pacer.acquire(MAX_PACER_WAIT).await.unwrap();
        assert!(start.elapsed() >= Duration::from_millis(290), "{:?}", start.elapsed());
        pacer.block_for(Duration::from_secs(60));
        assert!(pacer.acquire(MAX_PACER_WAIT).await.unwrap_err() > Duration::from_secs(59));
    }
}
