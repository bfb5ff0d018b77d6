//! Profiles seeded straight through the store before the Identity API
//! phases, each with identities derived from the run and its number, so
//! that a request can name one and check the MPID answered.

use std::time::{Duration, Instant};

use custos_core::identity::{Identity, IdentityType, Mpid};
use custos_core::ids::WorkspaceId;
use custos_store::{BatchBody, IncomingBatch, Store};

use crate::batches::now_ms;

/// Profiles per `ingest_batches` call when seeding.
pub(crate) const SEED_CHUNK: u64 = 5_000;

/// The MPID seeded profile `i` is created with (splitmix64 of the run and `i`).
pub(crate) fn seed_mpid(run: u32, i: u64) -> i64 {
    let mut z = (u64::from(run) << 32 ^ i).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    match (z ^ (z >> 31)) as i64 {
        0 => 1,
        mpid => mpid,
    }
}

pub(crate) fn seed_customer_id(run: u32, i: u64) -> String {
    format!("seed-{run:08x}-{i}")
}

pub(crate) fn seed_email(run: u32, i: u64) -> String {
    format!("seed{i}.{run:08x}@example.org")
}

pub(crate) async fn seed_profiles(
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
