//! Throughput of deletion requests against a platform held to mParticle's
//! documented DSR rate limit (1,000 requests a minute per workspace).
//!
//! ```sh
//! cargo build --release -p custos          # the platform under test
//! cargo bench -p custos-rm --bench deletions
//! ```
//!
//! Settings, by environment:
//! - `CUSTOS_RM_BENCH_REQUESTS` (default 10,000): deletion requests, one
//!   subject each (each subject first gets a profile on the platform);
//! - `CUSTOS_RM_BENCH_DSR_PER_MINUTE` (default 1,000): the platform's limit,
//!   passed as `--dsr-requests-per-minute`;
//! - `CUSTOS_BIN`: the `custos` binary to run as the platform (default: the
//!   target directory's `release/custos`, else `debug/custos`).
//!
//! The platform is a real `custos serve` process; the Request Manager runs in
//! this process, so its call counts are read directly. It reports the DSR
//! calls made per minute as a share of the limit (over the whole run and in
//! the busiest 60 s), the 429s met, and deletions completed per minute. All
//! traffic is to 127.0.0.1; every wait is bounded.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use custos_rm::domain::connection::ConnectionDraft;
use custos_rm::domain::request::{RequestDraft, RequestStatus};
use custos_rm::domain::role::Actor;
use custos_rm::processor::{Api, PACING_SHARE};
use custos_rm::store::DataSource;
use custos_rm::worker::WorkerConfig;
use custos_rm::RequestManager;
use serde_json::{json, Value};

struct Settings {
    requests: usize,
    dsr_per_minute: u32,
    binary: PathBuf,
}

impl Settings {
    fn from_env() -> Settings {
        let number = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name} must be a number")))
        };
        Settings {
            requests: number("CUSTOS_RM_BENCH_REQUESTS", 10_000),
            dsr_per_minute: number("CUSTOS_RM_BENCH_DSR_PER_MINUTE", 1000) as u32,
            binary: custos_binary(),
        }
    }
}

/// `CUSTOS_BIN`, else the `custos` binary beside this benchmark's target directory.
fn custos_binary() -> PathBuf {
    if let Ok(path) = std::env::var("CUSTOS_BIN") {
        return PathBuf::from(path);
    }
    // This executable is <target>/<profile>/deps/deletions-<hash>.
    let exe = std::env::current_exe().unwrap();
    let target = exe.parent().and_then(Path::parent).and_then(Path::parent).unwrap().to_owned();
    for profile in ["release", "debug"] {
        let candidate = target.join(profile).join("custos");
        if candidate.exists() {
            return candidate;
        }
    }
    panic!("no custos binary in {}: run `cargo build --release -p custos` first, or set CUSTOS_BIN", target.display());
}

struct Platform {
    child: Child,
    base: String,
    org: Value,
}

impl Drop for Platform {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_platform(settings: &Settings, dir: &Path) -> Platform {
    let output = Command::new(&settings.binary).args(["init", "--json", "--data-dir"]).arg(dir).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let org: Value = serde_json::from_slice(&output.stdout).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let child = Command::new(&settings.binary)
        .args(["serve", "--data-dir"])
        .arg(dir)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--public-url", &base])
        .args(["--dsr-requests-per-minute", &settings.dsr_per_minute.to_string()])
        .args(["--erasure-waiting-period", "0s", "--skipped-waiting-period", "0s"])
        .args(["--allow-callback-network", "127.0.0.1/32", "--events-batches-per-second", "1000000"])
        .env("CUSTOS_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let platform = Platform { child, base, org };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !client.get(format!("{}/healthz", platform.base)).send().await.is_ok_and(|r| r.status() == 200) {
        assert!(Instant::now() < deadline, "the platform did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    platform
}

fn subject(n: usize) -> String {
    format!("bench-subject-{n}@example.com")
}

/// One profile per subject, 100 batches per bulk request.
async fn seed(platform: &Platform, count: usize) {
    let input = &platform.org["inputs"]["server"];
    let client = reqwest::Client::new();
    for chunk in (0..count).collect::<Vec<_>>().chunks(100) {
        let batches: Vec<Value> = chunk
            .iter()
            .map(|n| {
                json!({"environment": "production", "user_identities": {"email": subject(*n)},
                       "events": [{"event_type": "custom_event", "data": {"event_name": "seed", "custom_event_type": "other"}}]})
            })
            .collect();
        let response = client
            .post(format!("{}/v2/bulkevents", platform.base))
            .basic_auth(input["key"].as_str().unwrap(), input["secret"].as_str())
            .json(&batches)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "seeding: {}", response.text().await.unwrap_or_default());
    }
}

fn main() {
    let settings = Settings::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run(settings));
}

async fn run(settings: Settings) {
    let dir = tempfile::tempdir().unwrap();
    let count = settings.requests;
    println!(
        "deletions: {count} requests against {} (DSR limit {}/min, paced at {:.0}%)",
        settings.binary.display(),
        settings.dsr_per_minute,
        PACING_SHARE * 100.0
    );
    let platform = start_platform(&settings, &dir.path().join("platform")).await;
    let seeding = Instant::now();
    seed(&platform, count).await;
    println!("  seeded {count} profiles in {:.1}s", seeding.elapsed().as_secs_f64());

    let rm_dir = dir.path().join("rm");
    let manager = RequestManager::open(&DataSource::DataDir(rm_dir.clone()), &rm_dir).await.unwrap();
    let workspace = &platform.org["workspace"];
    let web = &platform.org["inputs"]["web"];
    let text = |v: &Value| v.as_str().map(str::to_owned);
    manager
        .connect(
            ConnectionDraft {
                name: Some("platform".into()),
                kind: Some("mparticle".into()),
                base_url: Some(platform.base.clone()),
                workspace_key: text(&workspace["key"]),
                workspace_secret: text(&workspace["secret"]),
                web_key: text(&web["key"]),
                web_secret: text(&web["secret"]),
                ..ConnectionDraft::default()
            },
            &Actor::Cli,
        )
        .await
        .unwrap();
    let creating = Instant::now();
    for n in 0..count {
        let draft = RequestDraft {
            kind: Some("deletion".into()),
            regulation: Some("gdpr".into()),
            email: Some(subject(n)),
            ..RequestDraft::default()
        };
        manager.create_request(draft, &Actor::Cli).await.unwrap();
    }
    println!("  created {count} requests in {:.1}s", creating.elapsed().as_secs_f64());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public_url = format!("http://{}", listener.local_addr().unwrap());
    // Callbacks carry the statuses; polling is only the fallback.
    let config = WorkerConfig::new(Some(format!("{public_url}/rm/v1/callbacks/opendsr")), Duration::from_secs(120));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = tokio::spawn(custos_rm::serve_with(listener, manager.clone(), config, async move {
        let _ = stopped.await;
    }));

    let metrics = manager.processors.clone();
    let dsr_before = metrics.metrics().counts(Api::Dsr);
    let start = Instant::now();
    // (seconds since start, DSR calls so far), once a second.
    let mut samples: Vec<(f64, u64)> = vec![(0.0, 0)];
    let mut last_report = Instant::now();
    let limit =
        Duration::from_secs(60) * (count as u32 / settings.dsr_per_minute.max(1) + 1) * 4 + Duration::from_secs(300);
    let outcome = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let dsr = metrics.metrics().counts(Api::Dsr);
        samples.push((start.elapsed().as_secs_f64(), dsr.calls - dsr_before.calls));
        let counts = manager.store.request_counts().await.unwrap();
        let of = |status| counts.iter().find(|counted| counted.status == status).map_or(0, |counted| counted.count);
        let (completed, failed) = (of(RequestStatus::Completed), of(RequestStatus::Failed));
        if last_report.elapsed() >= Duration::from_secs(15) {
            last_report = Instant::now();
            println!(
                "  {:>5.0}s: {completed} completed, {failed} failed, {} DSR calls, {} throttled",
                start.elapsed().as_secs_f64(),
                dsr.calls - dsr_before.calls,
                dsr.throttled - dsr_before.throttled
            );
        }
        if (completed + failed) as usize >= count {
            break (completed, failed);
        }
        if start.elapsed() > limit {
            println!("  gave up after {:.0}s", start.elapsed().as_secs_f64());
            break (completed, failed);
        }
    };
    let elapsed = start.elapsed().as_secs_f64();
    let dsr = metrics.metrics().counts(Api::Dsr);
    let (calls, throttled) = (dsr.calls - dsr_before.calls, dsr.throttled - dsr_before.throttled);
    let identity = metrics.metrics().counts(Api::Identity);
    let _ = stop.send(());
    let _ = service.await;

    // The busy span: until the last DSR call.
    let busy = samples.iter().find(|(_, c)| *c == calls).map_or(elapsed, |(t, _)| *t).max(1.0);
    let per_minute = calls as f64 / busy * 60.0;
    let window = 60.0_f64.min(busy);
    let peak = samples
        .iter()
        .map(|(t, c)| {
            let before = samples.iter().rev().find(|(u, _)| *u <= t - window).map_or(0, |(_, c)| *c);
            (c - before) as f64 / window * 60.0
        })
        .fold(0.0, f64::max);
    let limit = f64::from(settings.dsr_per_minute);
    println!("results:");
    println!("  requests:            {count} ({} completed, {} failed)", outcome.0, outcome.1);
    println!("  wall time:           {elapsed:.1}s (DSR calls busy for {busy:.1}s)");
    println!("  DSR calls:           {calls} (identity lookups: {})", identity.calls);
    println!("  DSR calls/minute:    {per_minute:.0} = {:.3} of the {limit:.0}/min limit", per_minute / limit);
    println!("  busiest {window:.0}s:       {peak:.0}/min = {:.3} of the limit", peak / limit);
    println!("  429s met:            {throttled}");
    println!("  deletions/minute:    {:.0}", outcome.0 as f64 / elapsed * 60.0);
}
