//! Erasure cost against store size: erasing one subject should cost about
//! the same in a store of 10 million events as in one of 100,000, because
//! every step of an erasure follows the subject's own rows through indexes.
//!
//! `cargo bench -p custos-store --bench erasure`. Settings, by environment:
//! - `CUSTOS_BENCH_SMALL_EVENTS` (default 100,000) and
//!   `CUSTOS_BENCH_LARGE_EVENTS` (default 10,000,000): events of other
//!   subjects in the two stores, in batches of 10 events;
//! - `CUSTOS_BENCH_SUBJECT_EVENTS` (default 1,000): events of each subject erased;
//! - `CUSTOS_BENCH_SUBJECTS` (default 7): subjects erased per store;
//! - `CUSTOS_BENCH_DATABASE_URL`: PostgreSQL (fresh schemas) instead of SQLite.
//!
//! Each subject's batches are spread through the store as they would arrive
//! over time. An erasure is timed whole, as the worker runs it: resolve and
//! delete in one transaction, make the deleted data unrecoverable (on
//! SQLite a TRUNCATE checkpoint of the WAL), complete. The figure that
//! matters is the ratio of the large store's median to the small one's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use custos_core::dsr::{Regulation, RequestType, Schedule, Subject, Trace};
use custos_core::identity::{Identity, IdentityType, Mpid};
use custos_core::ids::WorkspaceId;
use custos_core::scope::Scope;
use custos_store::{
    testing, BatchBody, CreateOutcome, DataSource, HashedKey, IncomingBatch, NewApiCredential, NewOrganization,
    NewSubjectRequest, Store,
};
use time::OffsetDateTime;

const EVENTS_PER_BATCH: u64 = 10;
const BATCHES_PER_CALL: usize = 2_000;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(default)
}

/// The time `ms` milliseconds after the Unix epoch, as the worker's steps are stamped here.
fn at(ms: u64) -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + Duration::from_millis(ms)
}

fn hash(trace: Trace<'_>) -> String {
    // The worker uses a keyed HMAC; any deterministic text does here.
    trace.canonical().replace('\0', ":")
}

fn batch(ws: WorkspaceId, email: String, n: u64) -> IncomingBatch {
    let events: Vec<String> = (0..EVENTS_PER_BATCH)
        .map(|e| {
            format!(
                r#"{{"event_type":"custom_event","data":{{"event_name":"viewed item","custom_event_type":"navigation","timestamp_unixtime_ms":{},"custom_attributes":{{"item":"sku-{n}-{e}","list":"home"}}}}}}"#,
                1_700_000_000_000u64 + n
            )
        })
        .collect();
    IncomingBatch {
        workspace_id: ws,
        input_id: 1,
        source_request_id: None,
        mpid: None,
        new_mpid: Mpid(rand::random::<i64>()),
        identities: vec![Identity::new(IdentityType::Email, email.clone())],
        attributes: vec![("plan".into(), "\"gold\"".into())],
        deleted_attributes: vec![],
        consent: vec![],
        opted_out: None,
        event_count: EVENTS_PER_BATCH as i64,
        body: BatchBody::compress(&format!(
            r#"{{"user_identities":{{"email":"{email}"}},"events":[{}]}}"#,
            events.join(",")
        )),
        received_at_ms: 1_700_000_000_000,
        suppression_keys: vec![],
    }
}

struct Measured {
    events: u64,
    fill: Duration,
    erasures: Vec<Duration>,
    bytes_after: Option<u64>,
}

async fn measure(events: u64, subject_events: u64, subjects: u64, database_url: Option<&str>) -> Measured {
    let (source, _dir) = match database_url {
        Some(url) => (DataSource::Url(testing::fresh_postgres_schema(url).await), None),
        None => {
            let dir = tempfile::tempdir().unwrap();
            (DataSource::DataDir(dir.path().to_owned()), Some(dir))
        }
    };
    let store: Arc<dyn Store> = custos_store::open(&source).await.unwrap();
    let key = |k: &str| HashedKey { key: k.into(), secret_hash: "h".into(), secret_sealed: None };
    let now = time::OffsetDateTime::now_utc();
    let ws = store
        .create_organization(NewOrganization {
            name: "bench".into(),
            workspace: key("ws"),
            web_input: key("web"),
            server_input: key("s2s"),
            api_credential: NewApiCredential {
                client_id: "c".into(),
                secret_hash: "h".into(),
                name: "c".into(),
                scopes: Scope::ALL.to_vec(),
                now,
            },
            now,
        })
        .await
        .unwrap()
        .workspace_id;

    // Other subjects: ten batches each. The erased subjects' batches are
    // spread evenly through the fill.
    let filler_batches = events / EVENTS_PER_BATCH;
    let subject_batches = subject_events / EVENTS_PER_BATCH;
    let total = filler_batches + subjects * subject_batches;
    let started = Instant::now();
    let mut pending = Vec::with_capacity(BATCHES_PER_CALL);
    let (mut filled, mut subject_done) = (0u64, 0u64);
    for n in 0..total {
        let due_subject = (n + 1) * subjects * subject_batches / total.max(1);
        let item = if subject_done < due_subject {
            subject_done += 1;
            batch(ws, format!("subject-{}@example.com", subject_done % subjects), n)
        } else {
            filled += 1;
            batch(ws, format!("user-{}@example.com", filled / 10), n)
        };
        pending.push(item);
        if pending.len() == BATCHES_PER_CALL || n + 1 == total {
            store.ingest_batches(&pending).await.unwrap();
            pending.clear();
        }
    }
    let fill = started.elapsed();
    store.purge_deleted_data().await.unwrap();

    let mut erasures = Vec::new();
    for subject in 0..subjects {
        let id = format!("00000000-0000-4000-8000-{subject:012}");
        let request = NewSubjectRequest {
            workspace_id: ws,
            request_id: id.clone(),
            regulation: Regulation::Gdpr,
            request_type: RequestType::Erasure,
            subject: Subject::Identities(vec![Identity::new(
                IdentityType::Email,
                format!("subject-{subject}@example.com"),
            )]),
            subject_keys: vec![],
            overlap_key: id.clone(),
            group_id: None,
            api_version: "3.0".into(),
            submitted_at_ms: 0,
            received_at_ms: 0,
            schedule: Schedule { process_after_ms: 0, expected_completion_ms: 0 },
            suppress: false,
            callback_urls: vec![],
        };
        assert!(matches!(store.create_subject_request(&request).await.unwrap(), CreateOutcome::Created(_)));
        let claimed = store.claim_subject_request("bench", at(1), Duration::from_secs(60)).await.unwrap().unwrap();
        assert_eq!(claimed.request.request_id, id);
        let started = Instant::now();
        let report = store.erase_subject(ws, &id, "bench", &hash, at(2)).await.unwrap();
        store.purge_deleted_data().await.unwrap();
        assert!(store.complete_subject_request(ws, &id, "bench", 1, None, at(3)).await.unwrap());
        erasures.push(started.elapsed());
        assert_eq!(report.events, subject_batches * EVENTS_PER_BATCH, "every event of the subject is erased");
    }
    erasures.sort();
    let bytes_after = match &source {
        DataSource::DataDir(dir) => std::fs::metadata(dir.join("custos.db")).ok().map(|m| m.len()),
        DataSource::Url(_) => None,
    };
    Measured { events, fill, erasures, bytes_after }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn main() {
    let small = env_number("CUSTOS_BENCH_SMALL_EVENTS", 100_000);
    let large = env_number("CUSTOS_BENCH_LARGE_EVENTS", 10_000_000);
    let subject_events = env_number("CUSTOS_BENCH_SUBJECT_EVENTS", 1_000).max(EVENTS_PER_BATCH);
    let subjects = env_number("CUSTOS_BENCH_SUBJECTS", 7).max(1);
    let database_url = std::env::var("CUSTOS_BENCH_DATABASE_URL").ok().filter(|url| !url.is_empty());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!(
        "erasure of one subject ({subject_events} events) on {}, {subjects} subjects per store",
        if database_url.is_some() { "PostgreSQL" } else { "SQLite" }
    );
    let mut medians = Vec::new();
    for events in [small, large] {
        let measured = runtime.block_on(measure(events, subject_events, subjects, database_url.as_deref()));
        let median = measured.erasures[measured.erasures.len() / 2];
        println!(
            "store of {:>11} events: filled in {:>7.1} s ({:>8.0} events/s){}; erasure median {:>8.2} ms, min {:>8.2} ms, max {:>8.2} ms",
            measured.events,
            measured.fill.as_secs_f64(),
            measured.events as f64 / measured.fill.as_secs_f64(),
            measured.bytes_after.map(|b| format!(", file {} MiB", b / (1 << 20))).unwrap_or_default(),
            ms(median),
            ms(measured.erasures[0]),
            ms(*measured.erasures.last().unwrap()),
        );
        medians.push(median);
    }
    println!(
        "ratio, large store / small store: {:.2} ({}x the events)",
        ms(medians[1]) / ms(medians[0]),
        large / small.max(1)
    );
}
