//! Benchmark of the Custom Access Roles API: uploading a 100-role manifest
//! and checking a permission.
//!
//! `cargo bench -p custos-server --bench roles` (add `CUSTOS_BENCH_DATABASE_URL`
//! for PostgreSQL). Every figure is reported beside a baseline measured in the
//! same run, since absolute times on shared machines are noise:
//! - HTTP figures against `GET /healthz`, a request that also reaches the store;
//! - the permission check against a plain `HashSet` lookup.

use std::collections::HashSet;
use std::hint::black_box;
use std::time::{Duration, Instant};

use custos_core::access::{standard, Permissions};
use custos_server::{provision, ServeConfig};
use custos_store::DataSource;
use serde_json::{json, Value};

struct Figures {
    name: &'static str,
    samples: Vec<Duration>,
}

impl Figures {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.samples.clone();
        sorted.sort();
        sorted[((sorted.len() - 1) as f64 * p) as usize]
    }

    fn mean(&self) -> Duration {
        self.samples.iter().sum::<Duration>() / self.samples.len() as u32
    }
}

async fn measure<F, Fut>(name: &'static str, iterations: usize, mut once: F) -> Figures
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..iterations / 10 {
        once().await;
    }
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        once().await;
        samples.push(started.elapsed());
    }
    Figures { name, samples }
}

fn manifest(generation: usize) -> Value {
    let tasks = ["audiences:*", "rules:view", "live_stream:view", "connections:configure_inputs", "privacy:settings"];
    let roles: Vec<Value> = (0..100)
        .map(|i| {
            json!({
                "role_id": format!("role-{i}"),
                "name": format!("Role {i} v{generation}"),
                "description": format!("Benchmark role {i}, generation {generation}"),
                "tasks": tasks.iter().map(|t| json!({"task_id": t})).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "roles": roles })
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(http_figures());
    permission_figures();
}

async fn http_figures() {
    let dir = tempfile::tempdir().unwrap();
    let source = match std::env::var("CUSTOS_BENCH_DATABASE_URL") {
        Ok(url) => DataSource::Url(url),
        Err(_) => DataSource::DataDir(dir.path().to_owned()),
    };
    let store = custos_store::open(&source).await.unwrap();
    let config = ServeConfig { roles_requests_per_minute: u32::MAX, ..ServeConfig::mparticle_defaults() };
    let org = provision::create_organization(&*store, &config.master_key, "Bench").await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(custos_server::serve(listener, store.clone(), config, std::future::pending()));

    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{base}/oauth/token"))
        .json(&json!({"client_id": org.api_client.key, "client_secret": org.api_client.secret,
                      "audience": "https://api.mparticle.com", "grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let roles_url =
        format!("{base}/platform/v2/organizations/{}/accounts/{}/roles", org.ids.org_id, org.ids.account_id);
    let bodies: Vec<Vec<u8>> = (0..2).map(|g| serde_json::to_vec(&manifest(g)).unwrap()).collect();

    let baseline = measure("GET /healthz (baseline)", 2000, || async {
        let response = http.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(response.status(), 200);
    })
    .await;
    let mut generation = 0;
    let upload = measure("PUT 100-role manifest", 300, || {
        generation += 1;
        let body = bodies[generation % 2].clone();
        let request = http.put(&roles_url).bearer_auth(&token).header("content-type", "application/json").body(body);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
        }
    })
    .await;
    let fetch = measure("GET 100-role manifest", 1000, || async {
        let response = http.get(&roles_url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
    })
    .await;

    println!("\nCustom Access Roles API over HTTP, store: {}", store.backend());
    println!("{:<28} {:>10} {:>10} {:>10} {:>12}", "operation", "mean", "p50", "p99", "mean/baseline");
    for figures in [&baseline, &upload, &fetch] {
        println!(
            "{:<28} {:>10.3?} {:>10.3?} {:>10.3?} {:>12.1}",
            figures.name,
            figures.mean(),
            figures.percentile(0.50),
            figures.percentile(0.99),
            figures.mean().as_secs_f64() / baseline.mean().as_secs_f64()
        );
    }
}

fn permission_figures() {
    const CHECKS: usize = 2_000_000;
    let admin = standard::find("admin-compliance-role").unwrap();
    let permissions = Permissions::from_tasks(admin.tasks);
    let plain: HashSet<String> = admin.tasks.iter().map(|t| (*t).to_owned()).collect();
    let asked = ["audiences:view", "privacy:*", "user:core", "rules:view", "user_groups:view", "live_stream:view"];

    let started = Instant::now();
    let mut hits = 0usize;
    for i in 0..CHECKS {
        hits += usize::from(plain.contains(black_box(asked[i % asked.len()])));
    }
    let baseline = started.elapsed();
    black_box(hits);

    let started = Instant::now();
    let mut allowed = 0usize;
    for i in 0..CHECKS {
        allowed += usize::from(permissions.allows(black_box(asked[i % asked.len()])));
    }
    let check = started.elapsed();
    black_box(allowed);

    let started = Instant::now();
    for _ in 0..CHECKS / 100 {
        black_box(Permissions::from_tasks(black_box(admin.tasks)));
    }
    let build = started.elapsed() * 100;

    let per = |total: Duration| total.as_nanos() as f64 / CHECKS as f64;
    println!("\nPermission check (domain core, {CHECKS} checks)");
    println!("{:<40} {:>10} {:>14}", "operation", "ns/op", "ratio");
    println!("{:<40} {:>10.1} {:>14.2}", "HashSet lookup (baseline)", per(baseline), 1.0);
    println!("{:<40} {:>10.1} {:>14.2}", "Permissions::allows", per(check), per(check) / per(baseline));
    println!("{:<40} {:>10.1} {:>14.2}", "Permissions::from_tasks (17 tasks)", per(build), per(build) / per(baseline));
}
