//! Load benchmark of ingestion and identity resolution: the Events API under
//! many concurrent connections, and the Identity API over a large store.
//!
//! `cargo bench -p custos-server --bench ingest`. Settings, by environment:
//! - `CUSTOS_BENCH_SECONDS` (default 10): measured seconds per phase, after a
//!   warm-up of a tenth of that;
//! - `CUSTOS_BENCH_PROFILES` (default 1,000,000): profiles seeded before the
//!   Identity API phases;
//! - `CUSTOS_BENCH_USERS` (default 50,000): returning users, known to the
//!   store before the Events API phases (one batch each, stored straight
//!   through `Store::ingest_batches`);
//! - `CUSTOS_BENCH_NEW_USERS` (default 0.05): the share of batches that come
//!   from a user the store has not seen, whose batch creates a profile; the
//!   others come from a returning user drawn at random. An app's traffic is
//!   mostly its returning users': an SDK uploads a batch every few seconds of
//!   a session, and only a user's first creates a profile. A first batch
//!   costs two to three times a returning user's (its identities, attributes and
//!   consent are new rows on random pages), so the mix is set here rather
//!   than left to how long a phase runs; 1 measures new users alone;
//! - `CUSTOS_BENCH_DATABASE_URL`: run on PostgreSQL (a fresh schema of that
//!   database) instead of SQLite in a temporary directory.
//!
//! The server runs in this process on a runtime of its own (threads
//! `custos-server`), the load generator on another (`load-gen`), so the CPU
//! each spends is reported apart (from `/proc/self/task`), beside sqlx's
//! SQLite threads (readers, the checkpointer; the ingest writer runs on the
//! server's threads). All traffic is to 127.0.0.1. Every figure is reported
//! beside a baseline measured in the same run at the same concurrency, since
//! absolute figures on shared machines are noise: `GET /healthz`, a request
//! that also reaches the store.
//!
//! Phases, each after its own baseline at the same concurrency, once the
//! returning users are stored:
//! - `POST /v2/events`, one batch of 10 events per request, 64 at once;
//! - `POST /v2/bulkevents`, 100 batches per request, 16 at once; then a check
//!   that the store holds exactly the batches acknowledged with 202;
//! - diagnostic: `Store::ingest_batches` alone (no HTTP), 1,000 batches a call;
//! - the seeding of the profiles straight through `Store::ingest_batches`
//!   (timed), then `POST /v1/identify` of random seeded users at concurrency
//!   1 (latency) and 16 (throughput), checking the MPID answered;
//! - diagnostic: identify at concurrency 1 while `/v2/events` load runs.
//!
//! Every loop is bounded by time and by count. The CPU lines also show what
//! other processes and the hypervisor took meanwhile: on a shared machine,
//! figures taken while those were high are noise.

// As the `custos` binary: the server here runs with its allocator.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use custos_core::identity::{Identity, IdentityType, Mpid};
use custos_core::ids::WorkspaceId;
use custos_server::{provision, ServeConfig};
use custos_store::{BatchBody, ConsentRecord, Counts, DataSource, IncomingBatch, Store};
use futures_util::future::{BoxFuture, FutureExt};
use rand::Rng;

const EVENTS_PER_BATCH: u64 = 10;
const BULK_BATCHES: usize = 100;
/// Concurrent requests of the event phases and their baseline.
const EVENT_CONCURRENCY: usize = 64;
/// Concurrent bulk requests and their baseline: 16 x 100 batches in flight
/// about fill one group commit (at most 2,000 batches); more would only
/// lengthen the queue, and the latencies with it.
const BULK_CONCURRENCY: usize = 16;
/// Profiles per `ingest_batches` call when seeding.
const SEED_CHUNK: u64 = 5_000;
/// Batches per `ingest_batches` call in the diagnostic store-only phase.
const DIRECT_GROUP: u64 = 1_000;
/// The largest request the Events API accepts.
const MAX_REQUEST_BYTES: usize = 256 * 1024;

struct Settings {
    seconds: Duration,
    warmup: Duration,
    profiles: u64,
    users: u64,
    new_users: f64,
    database_url: Option<String>,
}

impl Settings {
    fn from_env() -> Settings {
        let seconds: f64 = env_number("CUSTOS_BENCH_SECONDS", 10.0);
        let profiles: f64 = env_number("CUSTOS_BENCH_PROFILES", 1_000_000.0);
        let users: f64 = env_number("CUSTOS_BENCH_USERS", 50_000.0);
        let new_users: f64 = env_number("CUSTOS_BENCH_NEW_USERS", 0.05);
        assert!((0.0..=1.0).contains(&new_users), "CUSTOS_BENCH_NEW_USERS must be between 0 and 1, not {new_users}");
        let seconds = Duration::from_secs_f64(seconds.max(0.1));
        Settings {
            seconds,
            warmup: (seconds / 10).max(Duration::from_millis(200)),
            profiles: (profiles as u64).max(1),
            users: (users as u64).max(1),
            new_users,
            database_url: std::env::var("CUSTOS_BENCH_DATABASE_URL").ok().filter(|url| !url.is_empty()),
        }
    }

    /// A bound on the requests of one phase, beside its duration.
    fn max_requests(&self) -> u64 {
        (self.seconds.as_secs_f64() * 1_000_000.0) as u64 + 1_000
    }
}

fn env_number(name: &str, default: f64) -> f64 {
    match std::env::var(name) {
        Ok(text) => text.replace('_', "").parse().unwrap_or_else(|_| panic!("{name} must be a number, not `{text}`")),
        Err(_) => default,
    }
}

// ---------------------------------------------------------------------------
// CPU time per thread group, from /proc/self/task/*/stat.

type Cpu = BTreeMap<&'static str, f64>;

fn thread_group(name: &str) -> &'static str {
    if name.starts_with("custos-server") {
        "server"
    } else if name.starts_with("sqlx-sqlite") {
        "sqlite"
    } else if name.starts_with("load-gen") {
        "load-gen"
    } else {
        "other"
    }
}

/// CPU seconds (user + system) spent so far by the live threads of each
/// group, and by other processes (`elsewhere`: such as a compiler running
/// beside the benchmark; with the children they have reaped).
fn cpu_by_group() -> Cpu {
    let mut cpu = Cpu::new();
    let own_pid = std::process::id().to_string();
    let mut elsewhere = 0.0;
    for process in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = process.file_name();
        let Some(pid) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else { continue };
        if pid == own_pid {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(process.path().join("stat")) else { continue };
        let Some(close) = stat.rfind(')') else { continue };
        // After the name: state is field 3 of proc(5); utime, stime, cutime, cstime are 14 to 17.
        let ticks: f64 =
            stat[close + 1..].split_whitespace().skip(11).take(4).filter_map(|f| f.parse::<f64>().ok()).sum();
        elsewhere += ticks / 100.0;
    }
    cpu.insert("elsewhere", elsewhere);
    // Time the hypervisor gave the machine's vCPUs to others (`steal` of /proc/stat).
    if let Some(line) = std::fs::read_to_string("/proc/stat").ok().and_then(|s| s.lines().next().map(str::to_owned)) {
        let steal = line.split_whitespace().nth(8).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        cpu.insert("steal", steal / 100.0);
    }
    // Not CPU: the bytes this process wrote to storage, and handed to write calls.
    if let Ok(io) = std::fs::read_to_string("/proc/self/io") {
        for line in io.lines() {
            let field = |name: &str| line.strip_prefix(name).and_then(|v| v.trim().parse::<f64>().ok());
            if let Some(bytes) = field("write_bytes:") {
                cpu.insert(DISK_BYTES, bytes);
            } else if let Some(bytes) = field("wchar:") {
                cpu.insert(WRITE_CALL_BYTES, bytes);
            }
        }
    }
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return cpu };
    let mut not_server = 0.0;
    for task in tasks.flatten() {
        let Some((name, seconds)) = cpu_of(&task.path().join("stat")) else { continue };
        let group = thread_group(&name);
        if group != "server" {
            not_server += seconds;
            *cpu.entry(group).or_default() += seconds;
        }
    }
    // The server's share is the process's total less the other groups: the
    // runtime's blocking threads (where the SQLite writer runs) come and go,
    // and an exited thread's time is only in the process's total.
    if let Some((_, total)) = cpu_of(std::path::Path::new("/proc/self/stat")) {
        cpu.insert("server", total - not_server);
    }
    cpu
}

/// The name and CPU seconds (user + system) of a `stat` file of proc(5).
fn cpu_of(stat: &std::path::Path) -> Option<(String, f64)> {
    let stat = std::fs::read_to_string(stat).ok()?;
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // After the name: state is field 3 of proc(5), utime 14 and stime 15.
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // USER_HZ is 100 on every Linux configuration in use.
    Some((stat[open + 1..close].to_owned(), (ticks(11) + ticks(12)) / 100.0))
}

/// Entries of a [`Cpu`] that count bytes, not seconds.
const DISK_BYTES: &str = "disk bytes";
const WRITE_CALL_BYTES: &str = "write call bytes";

fn cpu_since(before: &Cpu) -> Cpu {
    let mut now = cpu_by_group();
    for (group, seconds) in now.iter_mut() {
        *seconds -= before.get(group).copied().unwrap_or(0.0);
    }
    now
}

// ---------------------------------------------------------------------------
// Load phases.

#[derive(Default)]
struct Tally {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    samples: Vec<Duration>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.samples.extend(other.samples);
    }
}

struct Phase {
    name: String,
    concurrency: usize,
    /// Batches stored per successful request (0 for requests that store none).
    batches_per_request: u64,
    /// Successful requests of the warm-up, which also count as acknowledged.
    warmup_ok: u64,
    warmup_errors: u64,
    elapsed: Duration,
    tally: Tally,
    cpu: Cpu,
}

impl Phase {
    fn requests_per_second(&self) -> f64 {
        self.tally.ok as f64 / self.elapsed.as_secs_f64()
    }

    fn batches_per_second(&self) -> f64 {
        self.requests_per_second() * self.batches_per_request as f64
    }

    fn events_per_second(&self) -> f64 {
        self.batches_per_second() * EVENTS_PER_BATCH as f64
    }

    fn percentile(&self, p: f64) -> Duration {
        let samples = &self.tally.samples;
        if samples.is_empty() {
            return Duration::ZERO;
        }
        samples[((samples.len() - 1) as f64 * p).round() as usize]
    }

    fn errors(&self) -> u64 {
        self.tally.errors + self.warmup_errors
    }

    /// Batches acknowledged, warm-up included.
    fn acknowledged_batches(&self) -> u64 {
        (self.tally.ok + self.warmup_ok) * self.batches_per_request
    }

    fn print(&self, baseline: Option<&Phase>) {
        let versus = baseline.map_or(String::new(), |b| {
            format!(
                " = {:.3} x baseline throughput, p99 {:.1} x baseline",
                self.requests_per_second() / b.requests_per_second(),
                self.percentile(0.99).as_secs_f64() / b.percentile(0.99).as_secs_f64()
            )
        });
        println!(
            "  {} (concurrency {}): {} ok in {:.2?}: {:.0} requests/s{versus}",
            self.name,
            self.concurrency,
            self.tally.ok,
            self.elapsed,
            self.requests_per_second()
        );
        if self.batches_per_request > 0 {
            println!("    {:.0} batches/s, {:.0} events/s", self.batches_per_second(), self.events_per_second());
        }
        println!(
            "    latency p50 {:.3?}, p99 {:.3?}, p99.9 {:.3?}, max {:.3?}; errors {}",
            self.percentile(0.50),
            self.percentile(0.99),
            self.percentile(0.999),
            self.percentile(1.0),
            self.errors()
        );
        if let Some(error) = &self.tally.first_error {
            println!("    first error: {error}");
        }
        println!("{}", cpu_line(&self.cpu, self.elapsed));
        if self.batches_per_request > 0 && self.tally.ok > 0 {
            let batches = (self.tally.ok * self.batches_per_request) as f64;
            let cpu = |group| self.cpu.get(group).copied().unwrap_or(0.0) / batches * 1e6;
            println!(
                "    CPU per batch: server threads (with the SQLite writer) {:.0} us, sqlx SQLite threads {:.0} us, load generator {:.0} us, \
                 other processes (PostgreSQL's, if used) {:.0} us",
                cpu("server"),
                cpu("sqlite"),
                cpu("load-gen"),
                cpu("elsewhere")
            );
            let bytes = |entry| self.cpu.get(entry).copied().unwrap_or(0.0) / batches / 1024.0;
            println!(
                "    written per batch: {:.1} KiB to storage, {:.1} KiB through write calls",
                bytes(DISK_BYTES),
                bytes(WRITE_CALL_BYTES)
            );
        }
    }
}

/// CPU use over `elapsed`, in cores: this process's thread groups, and the rest of the machine.
fn cpu_line(cpu: &Cpu, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64();
    let mine = |group: &&str| !["elsewhere", "steal", DISK_BYTES, WRITE_CALL_BYTES].contains(group);
    let own: Vec<String> = cpu
        .iter()
        .filter(|(group, _)| mine(group))
        .map(|(group, cpu)| format!("{group} {:.2}", cpu / seconds))
        .collect();
    let total: f64 = cpu.iter().filter(|(group, _)| mine(group)).map(|(_, cpu)| cpu).sum();
    let machine = |group| cpu.get(group).copied().unwrap_or(0.0) / seconds;
    format!(
        "    CPU in cores: {} (this process {:.2}; other processes {:.2}; stolen by the hypervisor {:.2})",
        own.join(", "),
        total / seconds,
        machine("elsewhere"),
        machine("steal")
    )
}

/// Runs `once` from `concurrency` tasks until `duration` has passed or
/// `max_requests` were started; `once` answers whether the request succeeded.
async fn run_load<F, Fut>(concurrency: usize, duration: Duration, max_requests: u64, once: Arc<F>) -> (Tally, Duration)
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
async fn phase<F, Fut>(
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
async fn expect(request: reqwest::RequestBuilder, expected: u16, needle: Option<String>) -> Result<(), String> {
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

// ---------------------------------------------------------------------------
// Event batches.

/// One batch as an SDK sends it: 10 events (custom events, screen views and
/// commerce events), the user's identities, attributes, device and consent.
fn write_batch(out: &mut String, run: u32, request_id: u64, user: u64, now_ms: i64) {
    let _ = write!(
        out,
        r#"{{"schema_version":2,"environment":"production","source_request_id":"r{run:08x}-{request_id}","timestamp_unixtime_ms":{now_ms},"user_identities":{{"customer_id":"cust-{user}","email":"user{user}@example.com"}},"user_attributes":{{"plan":"{plan}","age":{age},"city":"Lyon","vip":{vip},"tags":["beta","eu"]}},"device_info":{{"platform":"iOS","os_version":"17.4","device_model":"iPhone15,2","ios_idfv":"idfv-{user}"}},"consent_state":{{"gdpr":{{"marketing":{{"consented":true,"document":"v3","timestamp_unixtime_ms":{consented_ms},"location":"eu"}}}},"ccpa":{{"data_sale_opt_out":{{"consented":false,"timestamp_unixtime_ms":{consented_ms}}}}}}},"events":["#,
        plan = plan(user),
        age = age(user),
        vip = vip(user),
        consented_ms = consented_ms(user),
    );
    for index in 0..EVENTS_PER_BATCH {
        if index > 0 {
            out.push(',');
        }
        let t = now_ms + index as i64;
        let _ = match index {
            3 | 7 => write!(
                out,
                r#"{{"event_type":"screen_view","data":{{"screen_name":"product_detail","timestamp_unixtime_ms":{t}}}}}"#
            ),
            5 | 9 => write!(
                out,
                r#"{{"event_type":"commerce_event","data":{{"timestamp_unixtime_ms":{t},"currency_code":"EUR","product_action":{{"action":"{action}","transaction_id":"t{request_id}","total_amount":59.98,"products":[{{"id":"sku-{sku}","name":"Trail shoe","price":29.99,"quantity":2}}]}}}}}}"#,
                action = if index == 5 { "add_to_cart" } else { "purchase" },
                sku = (user + index) % 500,
            ),
            _ => write!(
                out,
                r#"{{"event_type":"custom_event","data":{{"event_name":"{name}","custom_event_type":"navigation","timestamp_unixtime_ms":{t},"custom_attributes":{{"category":"shoes","item":"sku-{sku}"}}}}}}"#,
                name = ["view_item", "add_to_wishlist", "search", "share"][(index % 4) as usize],
                sku = (user * 31 + index) % 500,
            ),
        };
    }
    out.push_str("]}");
}

/// A user's attributes, the same in each of their batches.
fn plan(user: u64) -> &'static str {
    ["free", "gold", "pro"][(user % 3) as usize]
}

fn age(user: u64) -> u64 {
    18 + user % 60
}

fn vip(user: u64) -> bool {
    user.is_multiple_of(7)
}

/// When `user` gave consent. SDKs keep the consent state with the time it
/// was given and send it unchanged in every batch.
fn consented_ms(user: u64) -> i64 {
    1_700_000_000_000 + user as i64 * 1_000
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Draws users and numbers batches for one run.
struct BatchMaker {
    run: u32,
    /// Returning users are `0..users`; new ones are numbered from `users` on.
    users: u64,
    new_users: f64,
    next_new_user: AtomicU64,
    next_request_id: AtomicU64,
}

impl BatchMaker {
    fn new(run: u32, settings: &Settings) -> BatchMaker {
        BatchMaker {
            run,
            users: settings.users,
            new_users: settings.new_users,
            next_new_user: AtomicU64::new(settings.users),
            next_request_id: AtomicU64::new(0),
        }
    }

    fn user(&self) -> u64 {
        let mut rng = rand::thread_rng();
        if rng.gen_bool(self.new_users) {
            self.next_new_user.fetch_add(1, Ordering::Relaxed)
        } else {
            rng.gen_range(0..self.users)
        }
    }

    fn batch(&self) -> String {
        let mut out = String::with_capacity(2_600);
        self.append(&mut out);
        out
    }

    fn append(&self, out: &mut String) {
        let request_id = self.next_request_id.fetch_add(1, Ordering::Relaxed);
        write_batch(out, self.run, request_id, self.user(), now_ms());
    }

    fn bulk(&self) -> String {
        let mut out = String::with_capacity(BULK_BATCHES * 2_600);
        out.push('[');
        for index in 0..BULK_BATCHES {
            if index > 0 {
                out.push(',');
            }
            self.append(&mut out);
        }
        out.push(']');
        out
    }
}

/// An event batch as the server hands it to the store, for the store-only
/// run: what the Events API makes of [`write_batch`]'s.
fn direct_batch(workspace_id: WorkspaceId, input_id: i64, run: u32, user: u64, n: u64) -> IncomingBatch {
    let now = now_ms();
    let mut body = String::with_capacity(2_600);
    write_batch(&mut body, run, n, user, now);
    // As the Events API stores consent: the state's keys in order.
    let consent = |regulation: &str, purpose: &str, state_json: String| ConsentRecord {
        regulation: regulation.to_owned(),
        purpose: purpose.to_owned(),
        state_json,
    };
    let consented = consented_ms(user);
    IncomingBatch {
        workspace_id,
        input_id,
        source_request_id: Some(format!("d{run:08x}-{n}")),
        mpid: None,
        new_mpid: Mpid(rand::random()),
        identities: vec![
            Identity::new(IdentityType::CustomerId, format!("cust-{user}")),
            Identity::new(IdentityType::Email, format!("user{user}@example.com")),
            Identity::new(IdentityType::IosIdfv, format!("idfv-{user}")),
        ],
        attributes: vec![
            ("age".into(), age(user).to_string()),
            ("city".into(), "\"Lyon\"".into()),
            ("plan".into(), format!("\"{}\"", plan(user))),
            ("tags".into(), r#"["beta","eu"]"#.into()),
            ("vip".into(), vip(user).to_string()),
        ],
        deleted_attributes: vec![],
        consent: vec![
            consent(
                "gdpr",
                "marketing",
                format!(r#"{{"consented":true,"document":"v3","location":"eu","timestamp_unixtime_ms":{consented}}}"#),
            ),
            consent(
                "ccpa",
                "data_sale_opt_out",
                format!(r#"{{"consented":false,"timestamp_unixtime_ms":{consented}}}"#),
            ),
        ],
        opted_out: None,
        event_count: EVENTS_PER_BATCH as i64,
        body: BatchBody::compress(&body),
        received_at_ms: now,
        suppression_keys: Vec::new(),
    }
}

// ---------------------------------------------------------------------------
// Seeded profiles.

/// The MPID seeded profile `i` is created with (splitmix64 of the run and `i`).
fn seed_mpid(run: u32, i: u64) -> i64 {
    let mut z = (u64::from(run) << 32 ^ i).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    match (z ^ (z >> 31)) as i64 {
        0 => 1,
        mpid => mpid,
    }
}

fn seed_customer_id(run: u32, i: u64) -> String {
    format!("seed-{run:08x}-{i}")
}

fn seed_email(run: u32, i: u64) -> String {
    format!("seed{i}.{run:08x}@example.org")
}

async fn seed_profiles(
    store: &dyn Store,
    workspace_id: WorkspaceId,
    input_id: i64,
    run: u32,
    profiles: u64,
) -> Duration {
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut start = 0;
    while start < profiles {
        let end = (start + SEED_CHUNK).min(profiles);
        let now = now_ms();
        let batches: Vec<IncomingBatch> = (start..end)
            .map(|i| IncomingBatch {
                workspace_id,
                input_id,
                source_request_id: None,
                mpid: None,
                new_mpid: Mpid(seed_mpid(run, i)),
                identities: vec![
                    Identity::new(IdentityType::CustomerId, seed_customer_id(run, i)),
                    Identity::new(IdentityType::Email, seed_email(run, i)),
                ],
                attributes: vec![],
                deleted_attributes: vec![],
                consent: vec![],
                opted_out: None,
                event_count: 0,
                body: BatchBody::compress("{}"),
                received_at_ms: now,
                suppression_keys: Vec::new(),
            })
            .collect();
        store.ingest_batches(&batches).await.expect("seeding profiles");
        start = end;
        if last_report.elapsed() > Duration::from_secs(15) {
            let seconds = started.elapsed().as_secs_f64();
            println!("    seeded {start} of {profiles} in {seconds:.0} s ({:.0} profiles/s)", start as f64 / seconds);
            last_report = Instant::now();
        }
    }
    started.elapsed()
}

// ---------------------------------------------------------------------------

/// The requests of the phases, against one server.
#[derive(Clone)]
struct Traffic {
    http: reqwest::Client,
    base: String,
    key: String,
    secret: String,
    maker: Arc<BatchMaker>,
    run: u32,
    profiles: u64,
}

type Once = Box<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

impl Traffic {
    fn post(&self, path: &str, body: String) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .basic_auth(&self.key, Some(&self.secret))
            .header("content-type", "application/json")
            .body(body)
    }

    fn healthz(&self) -> Once {
        let this = self.clone();
        Box::new(move || expect(this.http.get(format!("{}/healthz", this.base)), 200, None).boxed())
    }

    fn events(&self) -> Once {
        let this = self.clone();
        Box::new(move || expect(this.post("/v2/events", this.maker.batch()), 202, None).boxed())
    }

    fn bulk(&self) -> Once {
        let this = self.clone();
        Box::new(move || expect(this.post("/v2/bulkevents", this.maker.bulk()), 202, None).boxed())
    }

    /// Identify of a random seeded profile, checking the MPID answered.
    fn identify(&self) -> Once {
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

fn main() {
    let settings = Settings::from_env();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .thread_name("custos-server")
        .enable_all()
        .build()
        .unwrap();
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .thread_name("load-gen")
        .enable_all()
        .build()
        .unwrap();
    let run: u32 = rand::random();

    let dir = tempfile::tempdir().unwrap();
    let (store, base, org, input_id) = server_rt.block_on(async {
        let source = match &settings.database_url {
            Some(url) => DataSource::Url(custos_store::testing::fresh_postgres_schema(url).await),
            None => DataSource::DataDir(dir.path().to_owned()),
        };
        let store = custos_store::open(&source).await.unwrap();
        let config = ServeConfig {
            events_batches_per_second: u32::MAX,
            roles_requests_per_minute: u32::MAX,
            ..ServeConfig::mparticle_defaults()
        };
        let org = provision::create_organization(&*store, &config.master_key, "Bench").await.unwrap();
        let input_id = store.find_input(&org.server_input.key).await.unwrap().expect("the server input").id;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(custos_server::serve(listener, store.clone(), config, std::future::pending()));
        (store, base, org, input_id)
    });
    let workspace_id = org.ids.workspace_id;
    let traffic = Traffic {
        http: reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap(),
        base,
        key: org.server_input.key.clone(),
        secret: org.server_input.secret.clone(),
        maker: Arc::new(BatchMaker::new(run, &settings)),
        run,
        profiles: settings.profiles,
    };
    let batch_bytes = traffic.maker.batch().len();
    let bulk_bytes = traffic.maker.bulk().len();
    assert!(bulk_bytes <= MAX_REQUEST_BYTES, "a bulk request of {bulk_bytes} bytes is over the limit");

    println!("\nIngestion and identity load benchmark, store: {}", store.backend());
    println!(
        "  {cores} cores; {:.1} s per phase after {:.1} s of warm-up; {} profiles for identify",
        settings.seconds.as_secs_f64(),
        settings.warmup.as_secs_f64(),
        settings.profiles
    );
    println!(
        "  a batch: {EVENTS_PER_BATCH} events, {batch_bytes} bytes; a bulk request: {BULK_BATCHES} batches, {bulk_bytes} bytes; {} returning users, {:.0}% of batches from new ones",
        settings.users,
        settings.new_users * 100.0
    );

    // The returning users become known, in batches numbered apart from the
    // store-only phase's.
    let known = Instant::now();
    server_rt.block_on(async {
        for start in (0..settings.users).step_by(DIRECT_GROUP as usize) {
            let group: Vec<IncomingBatch> = (start..settings.users.min(start + DIRECT_GROUP))
                .map(|user| direct_batch(workspace_id, input_id, run, user, u64::MAX / 2 + user))
                .collect();
            store.ingest_batches(&group).await.expect("storing the returning users' first batches");
        }
    });
    println!("  the {} returning users stored in {:.1?}", settings.users, known.elapsed());

    // 1-3. Events.
    println!("\nEvents API, {EVENT_CONCURRENCY} concurrent requests of one batch");
    let events_baseline =
        client_rt.block_on(phase(&settings, "GET /healthz (baseline)", EVENT_CONCURRENCY, 0, traffic.healthz()));
    events_baseline.print(None);
    let events =
        client_rt.block_on(phase(&settings, "POST /v2/events (1 batch)", EVENT_CONCURRENCY, 1, traffic.events()));
    events.print(Some(&events_baseline));
    println!("\nEvents API, {BULK_CONCURRENCY} concurrent bulk requests of {BULK_BATCHES} batches");
    let bulk_baseline =
        client_rt.block_on(phase(&settings, "GET /healthz (baseline)", BULK_CONCURRENCY, 0, traffic.healthz()));
    bulk_baseline.print(None);
    let bulk = client_rt.block_on(phase(
        &settings,
        "POST /v2/bulkevents (100 batches)",
        BULK_CONCURRENCY,
        BULK_BATCHES as u64,
        traffic.bulk(),
    ));
    bulk.print(Some(&bulk_baseline));

    let acknowledged = settings.users + events.acknowledged_batches() + bulk.acknowledged_batches();
    let stored = server_rt.block_on(workspace_counts(&*store, workspace_id));
    let verdict = if stored.batches as u64 == acknowledged && stored.events as u64 == acknowledged * EVENTS_PER_BATCH {
        "OK"
    } else {
        "MISMATCH"
    };
    println!(
        "  check: acknowledged {acknowledged} (returning users' first batches included), stored {} ({} events, {} profiles): {verdict}",
        stored.batches, stored.events, stored.profiles
    );

    // Diagnostic: the store alone, called as the ingest task calls it (from
    // a task of the server's runtime).
    let direct = {
        let (store, seconds, max_batches, maker) =
            (store.clone(), settings.seconds, settings.max_requests(), traffic.maker.clone());
        server_rt
            .block_on(server_rt.spawn(async move {
                let before = cpu_by_group();
                let started = Instant::now();
                let (mut batches, mut samples) = (0u64, Vec::new());
                while started.elapsed() < seconds && batches < max_batches {
                    let group: Vec<IncomingBatch> = (0..DIRECT_GROUP)
                        .map(|i| direct_batch(workspace_id, input_id, run, maker.user(), batches + i))
                        .collect();
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
            }))
            .expect("the store-only run")
    };
    println!("\nDiagnostic: the store alone, no HTTP (latency is per call of {DIRECT_GROUP} batches)");
    direct.print(None);

    // 4. Identity over many profiles.
    println!("\nIdentity API over {} seeded profiles", settings.profiles);
    let before = cpu_by_group();
    let seeding = {
        let (store, profiles) = (store.clone(), settings.profiles);
        server_rt
            .block_on(
                server_rt.spawn(async move { seed_profiles(&*store, workspace_id, input_id, run, profiles).await }),
            )
            .expect("seeding")
    };
    println!(
        "  seeding {} profiles through Store::ingest_batches ({SEED_CHUNK} a call): {:.1?}, {:.0} profiles/s",
        settings.profiles,
        seeding,
        settings.profiles as f64 / seeding.as_secs_f64(),
    );
    println!("{}", cpu_line(&cpu_since(&before), seeding));
    let mut identity_phases = Vec::new();
    for concurrency in [1, 16] {
        let baseline =
            client_rt.block_on(phase(&settings, "GET /healthz (baseline)", concurrency, 0, traffic.healthz()));
        baseline.print(None);
        let measured = client_rt.block_on(phase(&settings, "POST /v1/identify", concurrency, 0, traffic.identify()));
        measured.print(Some(&baseline));
        identity_phases.push((baseline, measured));
    }

    // Diagnostic: identify while events arrive.
    println!("\nDiagnostic: identify at concurrency 1 while POST /v2/events runs at concurrency {EVENT_CONCURRENCY}");
    let (during, background) = client_rt.block_on(async {
        let background = run_load(
            EVENT_CONCURRENCY,
            settings.warmup + settings.seconds,
            settings.max_requests(),
            Arc::new(traffic.events()),
        );
        let during = phase(&settings, "POST /v1/identify during ingestion", 1, 0, traffic.identify());
        futures_util::join!(during, background)
    });
    let (background, background_elapsed) = background;
    during.print(Some(&identity_phases[0].0));
    println!(
        "    meanwhile POST /v2/events: {:.0} batches/s, p99 {:.3?}, errors {}",
        background.ok as f64 / background_elapsed.as_secs_f64(),
        background
            .samples
            .get(((background.samples.len().max(1) - 1) as f64 * 0.99) as usize)
            .copied()
            .unwrap_or_default(),
        background.errors
    );

    if settings.database_url.is_none() {
        let mut files: Vec<String> = std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|file| {
                let size = file.metadata().ok()?.len();
                Some(format!("{} {:.0} MiB", file.file_name().to_string_lossy(), size as f64 / (1024.0 * 1024.0)))
            })
            .collect();
        files.sort();
        println!("\n  SQLite files at the end: {}", files.join(", "));
    }

    // Summary.
    println!(
        "\nSummary, store: {} ({} profiles, {:.0} s per phase)",
        store.backend(),
        settings.profiles,
        settings.seconds.as_secs_f64()
    );
    println!(
        "{:<36} {:>5} {:>10} {:>10} {:>10} {:>10} {:>10} {:>7}  throughput / baseline",
        "phase", "conc", "requests/s", "events/s", "p50", "p99", "p99.9", "errors"
    );
    let row = |phase: &Phase, baseline: Option<&Phase>| {
        let events =
            if phase.batches_per_request > 0 { format!("{:.0}", phase.events_per_second()) } else { "-".into() };
        let ratio = match baseline {
            Some(b) if std::ptr::eq(b, phase) => "(baseline)".to_owned(),
            Some(b) => format!("{:.3}", phase.requests_per_second() / b.requests_per_second()),
            None => "- (no HTTP; a request is a call)".to_owned(),
        };
        println!(
            "{:<36} {:>5} {:>10.0} {:>10} {:>10.3?} {:>10.3?} {:>10.3?} {:>7}  {}",
            phase.name,
            phase.concurrency,
            phase.requests_per_second(),
            events,
            phase.percentile(0.50),
            phase.percentile(0.99),
            phase.percentile(0.999),
            phase.errors(),
            ratio
        );
    };
    row(&events_baseline, Some(&events_baseline));
    row(&events, Some(&events_baseline));
    row(&bulk_baseline, Some(&bulk_baseline));
    row(&bulk, Some(&bulk_baseline));
    for (baseline, measured) in &identity_phases {
        row(baseline, Some(baseline));
        row(measured, Some(baseline));
    }
    row(&during, Some(&identity_phases[0].0));
    row(&direct, None);
    println!(
        "Batches acknowledged {acknowledged}, stored {}: {verdict}. Seeding {} profiles: {:.1?}.",
        stored.batches, settings.profiles, seeding
    );
    if verdict != "OK" {
        std::process::exit(1);
    }
}

async fn workspace_counts(store: &dyn Store, workspace_id: WorkspaceId) -> Counts {
    let stats = store.stats().await.expect("store stats");
    stats.workspaces.into_iter().find(|w| w.workspace_id == workspace_id).map(|w| w.counts).unwrap_or_default()
}
