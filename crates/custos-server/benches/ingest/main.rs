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
//!
//! Modules: `settings` (the environment), `setup` (the server and its
//! store), `batches` (what SDKs send), `seed` (profiles for identify),
//! `load` (the load generator and the requests of each phase), `cpu` (CPU
//! time per thread group), `report` (what a phase measured, and the summary).

// As the `custos` binary: the server here runs with its allocator.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod batches;
mod cpu;
mod load;
mod report;
mod seed;
mod settings;
mod setup;

use std::sync::Arc;
use std::time::{Duration, Instant};

use batches::{BatchMaker, BULK_BATCHES, EVENTS_PER_BATCH};
use cpu::{cpu_by_group, cpu_line, cpu_since};
use load::{phase, run_load, store_only, Traffic};
use report::{print_sqlite_files, print_summary, Compared};
use seed::{seed_profiles, SEED_CHUNK};
use settings::Settings;
use setup::{store_returning_users, workspace_counts};

/// Concurrent requests of the event phases and their baseline.
const EVENT_CONCURRENCY: usize = 64;
/// Concurrent bulk requests and their baseline: 16 x 100 batches in flight
/// about fill one group commit (at most 2,000 batches); more would only
/// lengthen the queue, and the latencies with it.
const BULK_CONCURRENCY: usize = 16;
/// Batches per `ingest_batches` call in the diagnostic store-only phase.
const DIRECT_GROUP: u64 = 1_000;
/// The largest request the Events API accepts.
const MAX_REQUEST_BYTES: usize = 256 * 1024;

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
    let setup::Server { store, base, org, input_id } = server_rt.block_on(setup::start(&settings, dir.path()));
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
    server_rt.block_on(store_returning_users(&*store, workspace_id, input_id, run, settings.users));
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
        let run_alone =
            async move { store_only(&*store, seconds, max_batches, &maker, workspace_id, input_id, run).await };
        server_rt.block_on(server_rt.spawn(run_alone)).expect("the store-only run")
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
        identity_phases.push(Compared { baseline, measured });
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
    during.print(Some(&identity_phases[0].baseline));
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
        print_sqlite_files(dir.path());
    }

    let events = Compared { baseline: events_baseline, measured: events };
    let bulk = Compared { baseline: bulk_baseline, measured: bulk };
    print_summary(store.backend(), &settings, &events, &bulk, &identity_phases, &during, &direct);
    println!(
        "Batches acknowledged {acknowledged}, stored {}: {verdict}. Seeding {} profiles: {:.1?}.",
        stored.batches, settings.profiles, seeding
    );
    if verdict != "OK" {
        std::process::exit(1);
    }
}
