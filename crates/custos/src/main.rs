//! `custos`: the one binary. Subcommands parse their arguments and call the
//! libraries; nothing else lives here.

mod cli;
mod config_file;
mod output;
mod rm;

use std::net::SocketAddr;

use anyhow::{bail, Context};
use custos_core::ids::{OrgId, WorkspaceId};
use custos_core::scope::parse_scope_list;
use custos_server::config::{DsrConfig, ProcessorIdentityPem};
use custos_server::sealing::MasterKey;
use custos_server::{provision, ServeConfig};
use custos_store::Store;

use cli::{Cli, Command, CredentialsCommand, DsrCommand, ServeArgs};

// jemalloc, for SQLite's allocations too: under the ingest path's load,
// glibc's malloc spent a sixth of the process's CPU.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> anyhow::Result<()> {
    let cli = config_file::parse()?;
    init_logging(&cli.log_format);
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(cli))
}

fn init_logging(format: &cli::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUSTOS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        cli::LogFormat::Json => builder.json().init(),
        cli::LogFormat::Text => builder.init(),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init { data, json } => {
            let store = open(&data).await?;
            let org = provision::create_organization(&*store, &master_key(&data)?, "Organization").await?;
            output::print_organization(&org, json);
        }
        Command::Stats { data, json } => {
            let store = open(&data).await?;
            output::print_stats(&store.stats().await?, json);
        }
        Command::Serve(args) => serve(args).await?,
        Command::Credentials(CredentialsCommand::Create { data, org, name, scopes, json }) => {
            let scopes = parse_scope_list(&scopes)?;
            let store = open(&data).await?;
            let issued =
                provision::create_api_credential(&*store, OrgId(org), &name, scopes).await.map_err(|e| match e {
                    custos_store::StoreError::NotFound => {
                        anyhow::anyhow!("organization {org} does not exist")
                    }
                    other => other.into(),
                })?;
            output::print_credential(&issued, json);
        }
        Command::Credentials(CredentialsCommand::List { data, org, json }) => {
            let store = open(&data).await?;
            output::print_credentials(&store.list_api_credentials(OrgId(org)).await?, json);
        }
        Command::Credentials(CredentialsCommand::Delete { data, client_id }) => {
            let store = open(&data).await?;
            if !store.delete_api_credential(&client_id).await? {
                bail!("no API credential has client_id {client_id}");
            }
            eprintln!("deleted API credential {client_id}; its access tokens no longer work");
        }
        Command::Dsr(DsrCommand::List { data, workspace, status, limit, json }) => {
            let status = match status.as_deref() {
                None => None,
                Some(name) => Some(custos_core::dsr::RequestStatus::parse(name).with_context(|| {
                    format!("--status: unknown status `{name}`: pending, in_progress, completed, cancelled or failed")
                })?),
            };
            let store = open(&data).await?;
            let requests = store.list_subject_requests(workspace.map(WorkspaceId), status, limit).await?;
            output::print_subject_requests(&requests, json);
        }
        Command::Dsr(DsrCommand::Show { data, id, workspace, json }) => {
            let store = open(&data).await?;
            let mut found = store.subject_requests_by_id(&id).await?;
            found.retain(|request| workspace.is_none_or(|w| request.workspace_id == WorkspaceId(w)));
            let request = match found.as_slice() {
                [request] => request.clone(),
                [] => bail!("no data subject request {id}"),
                _ => bail!("several workspaces have a request {id}: name one with --workspace"),
            };
            let audit = store.subject_request_audit(request.workspace_id, &id).await?;
            output::print_subject_request(&request, &audit, json);
        }
        Command::Rm(command) => rm::run(command).await?,
    }
    Ok(())
}

async fn open(data: &cli::DataArgs) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    let source = data.source();
    custos_store::open(&source).await.with_context(|| format!("opening the store {source:?}"))
}

/// The master key: `CUSTOS_MASTER_KEY`, else `master.key` in the data directory.
fn master_key(data: &cli::DataArgs) -> anyhow::Result<MasterKey> {
    let path = data.data_dir.join("master.key");
    MasterKey::load_or_create(&path).with_context(|| format!("loading the master key {}", path.display()))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let store = open(&args.data).await?;
    let master_key = master_key(&args.data)?;
    if store.count_organizations().await? == 0 {
        let org = provision::create_organization(&*store, &master_key, "Organization").await?;
        println!("The store was empty: created a first organization. Its secrets are shown only this once.");
        output::print_organization(&org, false);
    }
    let processor_identity = match (&args.processor_certificate, &args.processor_key) {
        (Some(certificate), Some(key)) => Some(ProcessorIdentityPem {
            certificate_pem: std::fs::read_to_string(certificate)
                .with_context(|| format!("reading --processor-certificate {}", certificate.display()))?,
            private_key_pem: std::fs::read_to_string(key)
                .with_context(|| format!("reading --processor-key {}", key.display()))?,
        }),
        _ => None,
    };
    let defaults = DsrConfig::mparticle_defaults();
    let dsr = DsrConfig {
        schedule: custos_core::dsr::SchedulePolicy {
            erasure_waiting_period: args.erasure_waiting_period,
            skipped_waiting_period: args.skipped_waiting_period,
        },
        requests_per_minute: args.dsr_requests_per_minute,
        new_requests_per_day: args.dsr_new_requests_per_day,
        allowed_callback_networks: args.allow_callback_network,
        callback_give_up: args.callback_give_up,
        lease: args.dsr_lease,
        processor_identity,
        ..defaults
    };
    let config = ServeConfig {
        extra_audiences: args.oauth_audience,
        roles_requests_per_minute: args.roles_requests_per_minute,
        events_batches_per_second: args.events_batches_per_second,
        master_key,
        public_url: args.public_url,
        dsr,
        ..ServeConfig::mparticle_defaults()
    };
    let listener =
        tokio::net::TcpListener::bind(&args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let address: SocketAddr = listener.local_addr()?;
    tracing::info!(%address, store = store.backend(), "custos serving");
    custos_server::serve(listener, store, config, shutdown_signal()).await?;
    tracing::info!("drained; exiting");
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; draining requests in flight");
}
