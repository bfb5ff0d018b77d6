//! `custos rm`: the Request Manager. `serve` runs its HTTP API, console,
//! worker and timers; the other verbs run the same operations on the store
//! directly, so they work with or without a running service (which picks
//! changes up within a second). `rm/people.rs` holds the users, tokens and
//! outbox verbs.

mod people;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use custos_rm::config::{parse_kinds, parse_regulations, WorkflowConfig};
use custos_rm::domain::connection::ConnectionDraft;
use custos_rm::domain::request::{Intake, RequestDraft, RequestStatus};
use custos_rm::domain::role::{Actor, Role};
use custos_rm::mail::SmtpConfig;
use custos_rm::store::{DataSource, RequestFilter};
use custos_rm::{views, RequestManager, RmError, ServeConfig};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub(crate) use people::{OutboxCommand, TokensCommand, UsersCommand};

#[derive(Debug, Subcommand)]
pub(crate) enum RmCommand {
    /// Create the store, the key that seals connection secrets, and a Super Admin API token (printed once).
    Init {
        #[command(flatten)]
        data: RmDataArgs,
        #[command(flatten)]
        workflow: WorkflowArgs,
        /// Also invite this email to the console as a Super Admin (a one-time link, printed once).
        #[arg(long)]
        admin_email: Option<String>,
        /// Print `{"api_token", "console"}` instead of text.
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
    /// Run a connection's test again; a Custos platform's current signing certificate is pinned (a rotated one accepted).
    Recheck {
        #[command(flatten)]
        data: RmDataArgs,
        /// The connection's id.
        id: i64,
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
    /// Create, list, show, approve, deny, extend and deliver data subject requests; export the report.
    #[command(subcommand)]
    Request(RequestCommand),
    /// The console's users: invite, list, remove, reset a password.
    #[command(subcommand)]
    Users(UsersCommand),
    /// API tokens, each with a role.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Mail not sent yet (without SMTP, it waits to be sent by hand).
    #[command(subcommand)]
    Outbox(OutboxCommand),
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

    /// The manager, taking requests in and making links as `workflow` says.
    async fn open_with(&self, workflow: &WorkflowArgs) -> anyhow::Result<RequestManager> {
        Ok(self.open().await?.with_config(workflow.config(None)?))
    }
}

/// How requests are taken in and answered, and where links point. Also read
/// by the verbs that make links, so they match what `serve` makes.
#[derive(Debug, Args)]
pub(crate) struct WorkflowArgs {
    /// The URL people, subjects and processors reach this service at: links in mail and
    /// invitations, status callbacks. Default for `serve`: http:// and the listening address.
    #[arg(long, env = "CUSTOS_RM_PUBLIC_URL")]
    public_url: Option<String>,
    /// Regulations whose requests the subject confirms by email first, unless a request says `verify` (gdpr,ccpa).
    #[arg(long, env = "CUSTOS_RM_VERIFY", default_value = "")]
    verify: String,
    /// Request types a Request Manager approves before they run (access,deletion,opt_out).
    #[arg(long, env = "CUSTOS_RM_REQUIRE_APPROVAL", default_value = "")]
    require_approval: String,
    /// How long a subject's verification link works.
    #[arg(long, env = "CUSTOS_RM_VERIFICATION_EXPIRY", default_value = "7d", value_parser = custos_rm::parse_duration)]
    verification_expiry: Duration,
    /// How long a subject's download link works.
    #[arg(long, env = "CUSTOS_RM_DELIVERY_LINK_EXPIRY", default_value = "7d", value_parser = custos_rm::parse_duration)]
    delivery_link_expiry: Duration,
    /// How many times a subject's download link works (then 410).
    #[arg(long, env = "CUSTOS_RM_DELIVERY_LINK_DOWNLOADS", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    delivery_link_downloads: u32,
}

/// Where links point when no public URL is given outside `serve`.
const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8090";

impl WorkflowArgs {
    fn config(&self, listening: Option<&str>) -> anyhow::Result<WorkflowConfig> {
        let public_url = match (&self.public_url, listening) {
            (Some(url), _) => url.clone(),
            (None, Some(address)) => format!("http://{address}"),
            (None, None) => DEFAULT_PUBLIC_URL.to_owned(),
        };
        let parsed = url::Url::parse(&public_url)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
            .with_context(|| format!("--public-url `{public_url}` must be an absolute http(s) URL"))?;
        let duration = |d: Duration| time::Duration::try_from(d).context("a duration is too long");
        Ok(WorkflowConfig {
            intake: Intake {
                verify: parse_regulations(&self.verify).map_err(|e| anyhow::anyhow!("--verify: {e}"))?,
                require_approval: parse_kinds(&self.require_approval)
                    .map_err(|e| anyhow::anyhow!("--require-approval: {e}"))?,
            },
            verification_expiry: duration(self.verification_expiry)?,
            delivery_link_expiry: duration(self.delivery_link_expiry)?,
            delivery_link_downloads: i64::from(self.delivery_link_downloads),
            ..WorkflowConfig::new(parsed)
        })
    }
}

#[derive(Debug, Args)]
pub(crate) struct RmServeArgs {
    #[command(flatten)]
    data: RmDataArgs,
    #[command(flatten)]
    workflow: WorkflowArgs,
    /// Address to listen on.
    #[arg(long, env = "CUSTOS_RM_LISTEN", default_value = "127.0.0.1:8090")]
    listen: String,
    /// How long to wait for a processor's callback before asking it for a status.
    #[arg(long, env = "CUSTOS_RM_POLL_INTERVAL", default_value = "10m", value_parser = custos_rm::parse_duration)]
    poll_interval: Duration,
    /// Where mail goes: smtp://[user:password@]host[:port] (STARTTLS; required with credentials) or smtps://….
    /// Without it, mail is kept for sending by hand (GET /rm/v1/outbox, `custos rm outbox list`).
    #[arg(long, env = "CUSTOS_RM_SMTP_URL", hide_env_values = true, requires = "mail_from")]
    smtp_url: Option<String>,
    /// The From address of mail: `privacy@example.com` or `Privacy <privacy@example.com>`.
    #[arg(long, env = "CUSTOS_RM_MAIL_FROM")]
    mail_from: Option<String>,
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
        /// Whether the subject confirms by email first (default: --verify's list of regulations).
        #[arg(long = "subject-verification")]
        subject_verification: Option<bool>,
        #[command(flatten)]
        workflow: WorkflowArgs,
        #[arg(long)]
        json: bool,
    },
    /// List requests, newest first.
    List {
        #[command(flatten)]
        data: RmDataArgs,
        /// received, verifying, awaiting_approval, processing, awaiting_delivery, completed, denied, unverified,
        /// cancelled or failed.
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
    /// Write a processed access request's package (a zip) to a file.
    Results {
        #[command(flatten)]
        data: RmDataArgs,
        id: String,
        #[arg(long)]
        output: PathBuf,
    },
    /// Approve requests awaiting approval; their jobs start.
    Approve {
        #[command(flatten)]
        data: RmDataArgs,
        #[arg(required = true)]
        ids: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Deny a request awaiting verification or approval; the subject is told the reason.
    Deny {
        #[command(flatten)]
        data: RmDataArgs,
        #[command(flatten)]
        workflow: WorkflowArgs,
        id: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// Extend a request's deadline, once, within the law (GDPR: two further months; CCPA: 45 days).
    Extend {
        #[command(flatten)]
        data: RmDataArgs,
        #[command(flatten)]
        workflow: WorkflowArgs,
        id: String,
        #[arg(long)]
        days: i64,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// Send (again) an access request's download link to the subject.
    Deliver {
        #[command(flatten)]
        data: RmDataArgs,
        #[command(flatten)]
        workflow: WorkflowArgs,
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Write the report of requests received from --from to --to (CSV, no personal data).
    ExportCsv {
        #[command(flatten)]
        data: RmDataArgs,
        /// First day, YYYY-MM-DD (UTC).
        #[arg(long)]
        from: String,
        /// Last day, YYYY-MM-DD (UTC), included.
        #[arg(long)]
        to: String,
        /// The file to write; standard output without it.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

pub(crate) async fn run(command: RmCommand) -> anyhow::Result<()> {
    match command {
        RmCommand::Init { data, workflow, admin_email, json } => {
            let manager = data.open_with(&workflow).await?;
            let (token, _) = manager.issue_api_token(Role::SuperAdmin, "init", &Actor::Cli).await.map_err(explain)?;
            let console = match &admin_email {
                Some(email) => {
                    let (user, link) =
                        manager.invite_user(email, Role::SuperAdmin, None, &Actor::Cli).await.map_err(explain)?;
                    Some(serde_json::json!({ "email": user.email, "invite_url": link.url.as_str() }))
                }
                None => None,
            };
            if json {
                let mut value = serde_json::json!({ "api_token": token });
                if let Some(console) = console {
                    value["console"] = console;
                }
                println!("{value}");
            } else {
                println!(
                    "The Request Manager's store is ready ({}).\n\nSuper Admin API token (Authorization: Bearer …):\n  {token}\n\n\
                     Only its digest is stored: keep it now, it cannot be shown again.",
                    manager.store.backend()
                );
                if let Some(console) = console {
                    println!(
                        "\nConsole: {} sets their password at (once, within 72 hours):\n  {}",
                        console["email"].as_str().unwrap_or_default(),
                        console["invite_url"].as_str().unwrap_or_default()
                    );
                }
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
            let connection = manager.connect(draft, &Actor::Cli).await.map_err(explain)?;
            print(&views::connection(&connection), args.json, |c| {
                let pinned =
                    c["certificate_sha256"].as_str().map(|f| format!("\nsigning certificate pinned: SHA-256 {f}"));
                format!(
                    "connected `{}` (id {}): the credentials passed every check{}",
                    c["name"].as_str().unwrap_or(""),
                    c["id"],
                    pinned.unwrap_or_default()
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
        RmCommand::Recheck { data, id, json } => {
            let manager = data.open().await?;
            let (connection, previous) = manager.recheck_connection(id, &Actor::Cli).await.map_err(explain)?;
            let mut value = views::connection(&connection);
            value["previous_certificate_sha256"] = serde_json::json!(previous);
            print(&value, json, |c| match (c["certificate_sha256"].as_str(), previous.as_deref()) {
                (Some(now), Some(before)) if now != before => {
                    format!("every check passed; the rotated certificate {now} is pinned (was {before})")
                }
                (Some(now), _) => format!("every check passed; certificate {now} is pinned"),
                _ => "every check passed".to_owned(),
            });
        }
        RmCommand::Disconnect { data, id } => {
            data.open().await?.remove_connection(id, &Actor::Cli).await.map_err(explain)?;
            eprintln!("removed connection {id}; its unfinished work is cancelled");
        }
        RmCommand::Request(command) => request(command).await?,
        RmCommand::Users(command) => people::users(command).await?,
        RmCommand::Tokens(command) => people::tokens(command).await?,
        RmCommand::Outbox(command) => people::outbox(command).await?,
    }
    Ok(())
}

async fn request(command: RequestCommand) -> anyhow::Result<()> {
    let now = OffsetDateTime::now_utc();
    match command {
        RequestCommand::Create {
            data,
            kind,
            regulation,
            email,
            customer_id,
            phone,
            received_at,
            subject_verification,
            workflow,
            json,
        } => {
            let received_at = received_at
                .map(|text| {
                    OffsetDateTime::parse(&text, &Rfc3339).context("--received-at must be an RFC 3339 timestamp")
                })
                .transpose()?;
            let manager = data.open_with(&workflow).await?;
            let draft = RequestDraft {
                kind: Some(kind),
                regulation: Some(regulation),
                email,
                customer_id,
                phone,
                received_at,
                verify: subject_verification,
            };
            let record = manager.create_request(draft, &Actor::Cli).await.map_err(explain)?;
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
                .map(|s| RequestStatus::parse(&s).with_context(|| format!("--status `{s}` is not a request status")))
                .transpose()?;
            if !(1..=1000).contains(&limit) {
                bail!("--limit must be from 1 to 1000");
            }
            let manager = data.open().await?;
            let filter = RequestFilter {
                status,
                overdue: overdue.then_some(true),
                limit,
                offset: 0,
                ..RequestFilter::default()
            };
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
            let package = manager.results_package(&id, &Actor::Cli).await.map_err(explain)?;
            std::fs::write(&output, &package).with_context(|| format!("writing {}", output.display()))?;
            eprintln!("wrote {} ({} bytes)", output.display(), package.len());
        }
        RequestCommand::Approve { data, ids, json } => {
            let manager = data.open().await?;
            let mut failed = false;
            let mut results = Vec::new();
            for (id, outcome) in manager.approve_many(&ids, &Actor::Cli).await {
                match outcome {
                    Ok(record) => results.push(serde_json::json!({ "id": id, "status": record.status.as_str() })),
                    Err(error) => {
                        failed = true;
                        results.push(serde_json::json!({ "id": id, "error": error.to_string() }));
                    }
                }
            }
            print(&serde_json::json!({ "results": results }), json, |_| {
                results
                    .iter()
                    .map(|r| match r["status"].as_str() {
                        Some(status) => format!("{}: {status}", r["id"].as_str().unwrap_or_default()),
                        None => format!(
                            "{}: {}",
                            r["id"].as_str().unwrap_or_default(),
                            r["error"].as_str().unwrap_or_default()
                        ),
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            if failed {
                bail!("not every request could be approved");
            }
        }
        RequestCommand::Deny { data, workflow, id, reason, json } => {
            let manager = data.open_with(&workflow).await?;
            let record = manager.deny(&id, &reason, &Actor::Cli).await.map_err(explain)?;
            print(&views::request(&record, now), json, request_line);
        }
        RequestCommand::Extend { data, workflow, id, days, reason, json } => {
            let manager = data.open_with(&workflow).await?;
            let record = manager.extend(&id, days, &reason, &Actor::Cli).await.map_err(explain)?;
            print(&views::request(&record, now), json, |r| {
                format!("{}\n  extended to {}", request_line(r), r["extended_deadline"].as_str().unwrap_or_default())
            });
        }
        RequestCommand::Deliver { data, workflow, id, json } => {
            let manager = data.open_with(&workflow).await?;
            let record = manager.deliver(&id, &Actor::Cli).await.map_err(explain)?;
            print(&views::request(&record, now), json, |r| {
                format!("{}\n  the download link is queued for the subject", request_line(r))
            });
        }
        RequestCommand::ExportCsv { data, from, to, output } => {
            let day = time::macros::format_description!("[year]-[month]-[day]");
            let from = time::Date::parse(&from, &day).context("--from must be a date, YYYY-MM-DD")?;
            let to = time::Date::parse(&to, &day).context("--to must be a date, YYYY-MM-DD")?;
            let report = data.open().await?.requests_csv(from, to).await.map_err(explain)?;
            match output {
                Some(path) => std::fs::write(&path, report).with_context(|| format!("writing {}", path.display()))?,
                None => print!("{report}"),
            }
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

pub(crate) fn print(value: &serde_json::Value, json: bool, text: impl FnOnce(&serde_json::Value) -> String) {
    if json {
        println!("{value}");
    } else {
        println!("{}", text(value));
    }
}

/// An operation's error as a person reads it; a failed connection test
/// lists each failure with its remedy.
pub(crate) fn explain(error: RmError) -> anyhow::Error {
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
    let mut workflow = args.workflow.config(Some(&address.to_string()))?;
    if let (Some(url), Some(from)) = (&args.smtp_url, &args.mail_from) {
        workflow.smtp = Some(SmtpConfig::parse(url, from).map_err(anyhow::Error::msg)?);
    } else {
        tracing::warn!("no --smtp-url: mail is kept for sending by hand (GET /rm/v1/outbox)");
    }
    let public_url = workflow.public_url.as_str().trim_end_matches('/').to_owned();
    let manager = manager.with_config(workflow);
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
