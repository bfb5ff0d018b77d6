//! `custos rm`: the Request Manager. `serve` runs its HTTP API and worker;
//! the other verbs run the same operations on the store directly, so they
//! work with or without a running service (which picks new requests up
//! within a second).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use custos_rm::domain::connection::ConnectionDraft;
use custos_rm::domain::request::{RequestDraft, RequestStatus};
use custos_rm::store::{DataSource, RequestFilter};
use custos_rm::{views, RequestManager, RmError, ServeConfig};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

#[derive(Debug, Subcommand)]
pub(crate) enum RmCommand {
    /// Create the store, the key that seals connection secrets, and an admin API token (printed once).
    Init {
        #[command(flatten)]
        data: RmDataArgs,
        /// Print `{"api_token"}` instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Serve the Request Manager's API (under /rm/v1) and run requests to completion.
    Serve(RmServeArgs),
    /// Test a platform's credentials against its DSR, Identity and Events APIs, then save the connection.
    Connect(ConnectArgs),
    /// List the connections (never their secrets).
    Connections {
        #[command(flatten)]
        data: RmDataArgs,
        #[arg(long)]
        json: bool,
    },
    /// Remove a connection; its unfinished work is cancelled.
    Disconnect {
        #[command(flatten)]
        data: RmDataArgs,
        /// The connection's id.
        id: i64,
    },
    /// Create, list and show data subject requests.
    #[command(subcommand)]
    Request(RequestCommand),
}

/// Where the Request Manager's data lives.
#[derive(Debug, Args)]
pub(crate) struct RmDataArgs {
    /// Directory of the embedded SQLite store (rm.db) and of the key file (rm.key).
    #[arg(long, env = "CUSTOS_RM_DATA_DIR", default_value = "./custos-rm-data")]
    data_dir: PathBuf,
    /// Database URL (`postgres://…` or `sqlite:PATH`) instead of the SQLite store in --data-dir
    /// (which still holds the key file unless CUSTOS_RM_MASTER_KEY is set).
    #[arg(long, env = "CUSTOS_RM_DATABASE_URL")]
    database_url: Option<String>,
}

impl RmDataArgs {
    async fn open(&self) -> anyhow::Result<RequestManager> {
        let source = match &self.database_url {
            Some(url) => DataSource::Url(url.clone()),
            None => DataSource::DataDir(self.data_dir.clone()),
        };
        Ok(RequestManager::open(&source, &self.data_dir).await?)
    }
}

#[derive(Debug, Args)]
pub(crate) struct RmServeArgs {
    #[command(flatten)]
    data: RmDataArgs,
    /// Address to listen on.
    #[arg(long, env = "CUSTOS_RM_LISTEN", default_value = "127.0.0.1:8090")]
    listen: String,
    /// The URL processors reach this service at, for status callbacks. Default: http:// and the listening address.
    #[arg(long, env = "CUSTOS_RM_PUBLIC_URL")]
    public_url: Option<String>,
    /// How long to wait for a processor's callback before asking it for a status.
    #[arg(long, env = "CUSTOS_RM_POLL_INTERVAL", default_value = "10m", value_parser = custos_rm::parse_duration)]
    poll_interval: Duration,
}

#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    #[command(flatten)]
    data: RmDataArgs,
    /// A name to tell the connection apart.
    #[arg(long)]
    name: String,
    /// mParticle's pod (data center): US1, US2, EU1 or AU1.
    #[arg(long, conflicts_with = "base_url", required_unless_present = "base_url")]
    pod: Option<String>,
    /// A Custos platform's base URL, instead of a pod.
    #[arg(long)]
    base_url: Option<String>,
    // Keys and secrets are random text that may begin with `-`.
    /// The workspace key (Data Subject Request API).
    #[arg(long, allow_hyphen_values = true)]
    workspace_key: String,
    /// The workspace secret.
    #[arg(long, allow_hyphen_values = true, env = "CUSTOS_RM_WORKSPACE_SECRET", hide_env_values = true)]
    workspace_secret: String,
    /// The web input's key (Identity and Events APIs).
    #[arg(long, allow_hyphen_values = true)]
    web_key: String,
    /// The web input's secret.
    #[arg(long, allow_hyphen_values = true, env = "CUSTOS_RM_WEB_SECRET", hide_env_values = true)]
    web_secret: String,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RequestCommand {
    /// Create a request; it goes to every connection.
    Create {
        #[command(flatten)]
        data: RmDataArgs,
        /// access, deletion or opt_out.
        #[arg(long = "type")]
        kind: String,
        /// gdpr or ccpa.
        #[arg(long)]
        regulation: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        customer_id: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        /// When the data subject made the request (RFC 3339), if earlier than now.
        #[arg(long)]
        received_at: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List requests, newest first.
    List {
        #[command(flatten)]
        data: RmDataArgs,
        /// pending, in_progress, completed or failed.
        #[arg(long)]
        status: Option<String>,
        /// Only requests past their deadline.
        #[arg(long)]
        overdue: bool,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Show a request: each connection's status and the audit trail.
    Show {
        #[command(flatten)]
        data: RmDataArgs,
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Write a completed access request's package (a zip) to a file.
    Results {
        #[command(flatten)]
        data: RmDataArgs,
        id: String,
        #[arg(long)]
        output: PathBuf,
    },
}

pub(crate) async fn run(command: RmCommand) -> anyhow::Result<()> {
    match command {
        RmCommand::Init { data, json } => {
            let manager = data.open().await?;
            let token = manager.issue_api_token().await.map_err(explain)?;
            if json {
                println!("{}", serde_json::json!({ "api_token": token }));
            } else {
                println!(
                    "The Request Manager's store is ready ({}).\n\nAdmin API token (Authorization: Bearer …):\n  {token}\n\n\
                     Only its digest is stored: keep it now, it cannot be shown again.",
                    manager.store.backend()
                );
            }
        }
        RmCommand::Serve(args) => serve(args).await?,
        RmCommand::Connect(args) => {
            let manager = args.data.open().await?;
            let draft = ConnectionDraft {
                name: Some(args.name),
                kind: Some("mparticle".into()),
                pod: args.pod,
                base_url: args.base_url,
                workspace_key: Some(args.workspace_key),
                workspace_secret: Some(args.workspace_secret),
                web_key: Some(args.web_key),
                web_secret: Some(args.web_secret),
            };
            let connection = manager.connect(draft).await.map_err(explain)?;
            print(&views::connection(&connection), args.json, |c| {
                format!(
                    "connected `{}` (id {}): the credentials passed every check",
                    c["name"].as_str().unwrap_or(""),
                    c["id"]
                )
            });
        }
        RmCommand::Connections { data, json } => {
            let manager = data.open().await?;
            let connections = manager.store.list_connections().await.map_err(RmError::from).map_err(explain)?;
            let list: Vec<_> = connections.iter().map(views::connection).collect();
            print(&serde_json::json!({ "connections": list }), json, |_| {
                list.iter()
                    .map(|c| {
                        let place = c.get("pod").or_else(|| c.get("base_url")).and_then(|v| v.as_str()).unwrap_or("");
                        format!("{:>4}  {}  {place}", c["id"], c["name"].as_str().unwrap_or(""))
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        RmCommand::Disconnect { data, id } => {
            data.open().await?.remove_connection(id).await.map_err(explain)?;
            eprintln!("removed connection {id}; its unfinished work is cancelled");
        }
        RmCommand::Request(command) => request(command).await?,
    }
    Ok(())
}

async fn request(command: RequestCommand) -> anyhow::Result<()> {
    let now = OffsetDateTime::now_utc();
    match command {
        RequestCommand::Create { data, kind, regulation, email, customer_id, phone, received_at, json } => {
            let received_at = received_at
                .map(|text| {
                    OffsetDateTime::parse(&text, &Rfc3339).context("--received-at must be an RFC 3339 timestamp")
                })
                .transpose()?;
            let manager = data.open().await?;
            let draft =
                RequestDraft { kind: Some(kind), regulation: Some(regulation), email, customer_id, phone, received_at };
            let record = manager.create_request(draft).await.map_err(explain)?;
            let detail = manager.request_detail(&record.id).await.map_err(explain)?;
            print(&views::request_detail(&detail, now), json, |r| {
                format!(
                    "request {} ({} under {}): {}, due {}",
                    r["id"].as_str().unwrap_or(""),
                    r["type"].as_str().unwrap_or(""),
                    r["regulation"].as_str().unwrap_or(""),
                    r["status"].as_str().unwrap_or(""),
                    r["deadline"].as_str().unwrap_or("")
                )
            });
        }
        RequestCommand::List { data, status, overdue, limit, json } => {
            let status = status
                .map(|s| RequestStatus::parse(&s).context("--status must be pending, in_progress, completed or failed"))
                .transpose()?;
            if !(1..=1000).contains(&limit) {
                bail!("--limit must be from 1 to 1000");
            }
            let manager = data.open().await?;
            let filter = RequestFilter { status, overdue: overdue.then_some(true), limit, offset: 0 };
            let requests = manager.store.list_requests(&filter, now).await.map_err(RmError::from).map_err(explain)?;
            let list: Vec<_> = requests.iter().map(|r| views::request(r, now)).collect();
            print(&serde_json::json!({ "requests": list }), json, |_| {
                list.iter().map(request_line).collect::<Vec<_>>().join("\n")
            });
        }
        RequestCommand::Show { data, id, json } => {
            let manager = data.open().await?;
            let detail = manager.request_detail(&id).await.map_err(explain)?;
            print(&views::request_detail(&detail, now), json, |r| {
                let mut lines = vec![request_line(r)];
                for job in r["connections"].as_array().into_iter().flatten() {
                    lines.push(format!(
                        "  {}: {} (step {}){}",
                        job["connection"].as_str().unwrap_or(""),
                        job["status"].as_str().unwrap_or(""),
                        job["step"].as_str().unwrap_or(""),
                        job["last_error"].as_str().map(|e| format!("; {e}")).unwrap_or_default()
                    ));
                }
                lines.push("audit:".into());
                for entry in r["audit"].as_array().into_iter().flatten() {
                    let connection = entry["connection"].as_str().map(|c| format!(" [{c}]")).unwrap_or_default();
                    lines.push(format!(
                        "  {}{connection} {}",
                        entry["at"].as_str().unwrap_or(""),
                        entry["event"].as_str().unwrap_or("")
                    ));
                }
                lines.join("\n")
            });
        }
        RequestCommand::Results { data, id, output } => {
            let manager = data.open().await?;
            let package = manager.results_package(&id).await.map_err(explain)?;
            std::fs::write(&output, &package).with_context(|| format!("writing {}", output.display()))?;
            eprintln!("wrote {} ({} bytes)", output.display(), package.len());
        }
    }
    Ok(())
}

fn request_line(r: &serde_json::Value) -> String {
    format!(
        "{}  {:<8} {:<4} {:<11} due {}{}",
        r["id"].as_str().unwrap_or(""),
        r["type"].as_str().unwrap_or(""),
        r["regulation"].as_str().unwrap_or(""),
        r["status"].as_str().unwrap_or(""),
        r["deadline"].as_str().unwrap_or(""),
        if r["overdue"] == true { "  OVERDUE" } else { "" }
    )
}

fn print(value: &serde_json::Value, json: bool, text: impl FnOnce(&serde_json::Value) -> String) {
    if json {
        println!("{value}");
    } else {
        println!("{}", text(value));
    }
}

/// An operation's error as a person reads it; a failed connection test
/// lists each failure with its remedy.
fn explain(error: RmError) -> anyhow::Error {
    match error {
        RmError::ConnectionTest(failures) => {
            let mut text = String::from("the connection test failed; nothing was saved");
            for failure in failures {
                text.push_str(&format!("\n- {}\n  {}", failure.message, failure.remedy));
            }
            anyhow::anyhow!(text)
        }
        other => anyhow::anyhow!(other),
    }
}

async fn serve(args: RmServeArgs) -> anyhow::Result<()> {
    let manager = args.data.open().await?;
    if manager.store.api_token_digests().await?.is_empty() {
        tracing::warn!("no admin API token exists yet: run `custos rm init` with the same store to issue one");
    }
    let listener =
        tokio::net::TcpListener::bind(&args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let address = listener.local_addr()?;
    let public_url = args.public_url.unwrap_or_else(|| format!("http://{address}"));
    tracing::info!(%address, store = manager.store.backend(), "custos rm serving");
    let config = ServeConfig { public_url, poll_interval: args.poll_interval };
    custos_rm::serve(listener, manager, config, crate::shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    use super::RmCommand;

    #[test]
    fn keys_and_secrets_may_begin_with_a_hyphen() {
        let cli = Cli::try_parse_from([
            "custos",
            "rm",
            "connect",
            "--name",
            "eu",
            "--base-url",
            "http://127.0.0.1:8080",
            "--workspace-key",
            "-wk",
            "--workspace-secret",
            "-yws",
            "--web-key",
            "-k",
            "--web-secret",
            "--json-like",
            "--json",
        ])
        .expect("credentials beginning with `-` parse");
        let Command::Rm(RmCommand::Connect(args)) = cli.command else { panic!("not `rm connect`: {:?}", cli.command) };
        assert_eq!(
            (&*args.workspace_key, &*args.workspace_secret, &*args.web_key, &*args.web_secret),
            ("-wk", "-yws", "-k", "--json-like")
        );
        assert!(args.json);
    }
}
