//! The server under load, in this process, and its store: SQLite in a
//! temporary directory, or a fresh schema of `CUSTOS_BENCH_DATABASE_URL`.

use std::path::Path;
use std::sync::Arc;

use custos_core::ids::WorkspaceId;
use custos_server::provision::{self, ProvisionedOrganization};
use custos_server::ServeConfig;
use custos_store::{Counts, DataSource, IncomingBatch, Store};

use crate::batches::direct_batch;
use crate::settings::Settings;
use crate::DIRECT_GROUP;

/// A running server, with the organization it serves.
pub(crate) struct Server {
    pub(crate) store: Arc<dyn Store>,
    /// `http://127.0.0.1:<port>`.
    pub(crate) base: String,
    pub(crate) org: ProvisionedOrganization,
    /// The server input's id, for batches stored without the Events API.
    pub(crate) input_id: i64,
}

/// Opens the store (in `dir` for SQLite) and serves it on a port of
/// 127.0.0.1, without rate limits, until the process ends.
pub(crate) async fn start(settings: &Settings, dir: &Path) -> Server {
    let source = match &settings.database_url {
        Some(url) => DataSource::Url(custos_store::testing::fresh_postgres_schema(url).await),
        None => DataSource::DataDir(dir.to_owned()),
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
    Server { store, base, org, input_id }
}

/// Stores one batch of each returning user (`0..users`), so that the Events
/// API phases find them known, numbered apart from the store-only phase's.
pub(crate) async fn store_returning_users(
    store: &dyn Store,
    workspace_id: WorkspaceId,
    input_id: i64,
    run: u32,
    users: u64,
) {
    for start in (0..users).step_by(DIRECT_GROUP as usize) {
        let group: Vec<IncomingBatch> = (start..users.min(start + DIRECT_GROUP))
            .map(|user| direct_batch(workspace_id, input_id, run, user, u64::MAX / 2 + user))
            .collect();
        store.ingest_batches(&group).await.expect("storing the returning users' first batches");
    }
}

pub(crate) async fn workspace_counts(store: &dyn Store, workspace_id: WorkspaceId) -> Counts {
    let stats = store.stats().await.expect("store stats");
    stats.workspaces.into_iter().find(|w| w.workspace_id == workspace_id).map(|w| w.counts).unwrap_or_default()
}
