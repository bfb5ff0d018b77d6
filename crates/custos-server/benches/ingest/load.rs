//! The load generator: tasks that send a kind of request at a concurrency
//! for a time, counting answers and latencies, and the requests of each phase.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use custos_core::ids::WorkspaceId;
use custos_store::{IncomingBatch, Store};
use futures_util::future::{BoxFuture, FutureExt};
use rand::Rng;

use crate::batches::{direct_batch, BatchMaker};
use crate::cpu::{cpu_by_group, cpu_since};
use crate::report::Phase;
use crate::seed::{seed_customer_id, seed_email, seed_mpid};
use crate::settings::Settings;
use crate::DIRECT_GROUP;

#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) ok: u64,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    pub(crate) samples: Vec<Duration>,
}

impl Tally {
    pub(crate) fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.samples.extend(other.samples);
    }
}

/// Runs `once` from `concurrency` tasks until `duration` has passed or
/// `max_requests` were started; `once` answers whether the request succeeded.
pub(crate) async fn run_load<F, Fut>(
    concurrency: usize,
    duration: Duration,
    max_requests: u64,
    once: Arc<F>,
) -> (Tally, Duration)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let started = Instant::now();
    let deadline = started + duration;
    let next = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (once, next) = (once.clone(), next.clone());
            tokio::spawn(async move {
                let mut tally = Tally { samples: Vec::with_capacity(4_096), ..Tally::default() };
                while Instant::now() < deadline && next.fetch_add(1, Ordering::Relaxed) < max_requests {
                    let sent = Instant::now();
                    let result = once().await;
                    tally.samples.push(sent.elapsed());
                    match result {
                        Ok(()) => tally.ok += 1,
                        Err(error) => {
                            tally.errors += 1;
                            tally.first_error.get_or_insert(error);
                        }
                    }
                }
                tally
            })
        })
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        tally.merge(task.await.expect("a load task panicked"));
    }
    let elapsed = started.elapsed();
    tally.samples.sort();
    (tally, elapsed)
}

/// A warm-up, then the measured run.
pub(crate) async fn phase<F, Fut>(
    settings: &Settings,
    name: impl Into<String>,
    concurrency: usize,
    batches_per_request: u64,
    once: F,
) -> Phase
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let once = Arc::new(once);
    let (warmup, _) = run_load(concurrency, settings.warmup, settings.max_requests(), once.clone()).await;
    let before = cpu_by_group();
    let (tally, elapsed) = run_load(concurrency, settings.seconds, settings.max_requests(), once).await;
    Phase {
        name: name.into(),
        concurrency,
        batches_per_request,
        warmup_ok: warmup.ok,
        warmup_errors: warmup.errors,
        elapsed,
        tally,
        cpu: cpu_since(&before),
    }
}

/// Sends `request`; success is `expected` status and, if given, a body containing `needle`.
pub(crate) async fn expect(
    request: reqwest::RequestBuilder,
    expected: u16,
    needle: Option<String>,
) -> Result<(), String> {
    let response = request.send().await.map_err(|e| format!("transport: {e}"))?;
    let status = response.status().as_u16();
    // Read the body whole so that the connection goes back to the pool.
    let body = response.bytes().await.map_err(|e| format!("reading the body: {e}"))?;
    if status != expected {
        return Err(format!("status {status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)])));
    }
    if let Some(needle) = needle {
        if !body.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            return Err(format!("body lacks `{needle}`: {}", String::from_utf8_lossy(&body[..body.len().min(300)])));
        }
    }
    Ok(())
}

/// The requests of the phases, against one server.
#[derive(Clone)]
pub(crate) struct Traffic {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) key: String,
    pub(crate) secret: String,
    pub(crate) maker: Arc<BatchMaker>,
    pub(crate) run: u32,
    pub(crate) profiles: u64,
}

pub(crate) type Once = Box<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

impl Traffic {
    pub(crate) fn post(&self, path: &str, body: String) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .basic_auth(&self.key, Some(&self.secret))
            .header("content-type", "application/json")
            .body(body)
    }

    pub(crate) fn healthz(&self) -> Once {
        let this = self.clone();
        Box::new(move || expect(this.http.get(format!("{}/healthz", this.base)), 200, None).boxed())
    }

    pub(crate) fn events(&self) -> Once {
        let this = self.clone();
        Box::new(move || expect(this.post("/v2/events", this.maker.batch()), 202, None).boxed())
    }

    pub(crate) fn bulk(&self) -> Once {
        let this = self.clone();
        Box::new(move || expect(this.post("/v2/bulkevents", this.maker.bulk()), 202, None).boxed())
    }

    /// Identify of a random seeded profile, checking the MPID answered.
    pub(crate) fn identify(&self) -> Once {
        let this = self.clone();
        Box::new(move || {
            let i = rand::thread_rng().gen_range(0..this.profiles);
            let body = format!(
                r#"{{"known_identities":{{"customerid":"{}","email":"{}"}},"environment":"production"}}"#,
                seed_customer_id(this.run, i),
                seed_email(this.run, i)
            );
            let mpid = format!(r#""mpid":"{}""#, seed_mpid(this.run, i));
            expect(this.post("/v1/identify", body), 200, Some(mpid)).boxed()
        })
    }
}

/// The store alone, called as the ingest task calls it, [`DIRECT_GROUP`]
/// batches a call, for `seconds` or `max_batches`.
pub(crate) async fn store_only(
    store: &dyn Store,
    seconds: Duration,
    max_batches: u64,
    maker: &BatchMaker,
    workspace_id: WorkspaceId,
    input_id: i64,
    run: u32,
) -> Phase {
    let before = cpu_by_group();
    let started = Instant::now();
    let (mut batches, mut samples) = (0u64, Vec::new());
    while started.elapsed() < seconds && batches < max_batches {
        let group: Vec<IncomingBatch> =
            (0..DIRECT_GROUP).map(|i| direct_batch(workspace_id, input_id, run, maker.user(), batches + i)).collect();
        let committing = Instant::now();
        store.ingest_batches(&group).await.expect("ingest_batches");
        samples.push(committing.elapsed());
        batches += DIRECT_GROUP;
    }
    let elapsed = started.elapsed();
    samples.sort();
    Phase {
        name: format!("Store::ingest_batches, {DIRECT_GROUP} a call"),
        concurrency: 1,
        batches_per_request: DIRECT_GROUP,
        warmup_ok: 0,
        warmup_errors: 0,
        elapsed,
        tally: Tally { ok: batches / DIRECT_GROUP, errors: 0, first_error: None, samples },
        cpu: cpu_since(&before),
    }
}
