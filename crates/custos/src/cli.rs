//! The command line: `custos init | serve | stats | credentials | dsr`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use custos_store::DataSource;
use ipnet::IpNet;

#[derive(Debug, Parser)]
#[command(name = "custos", version, about = "Custos: a self-hosted, privacy-first customer data platform")]
pub(crate) struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "text", env = "CUSTOS_LOG_FORMAT")]
    pub(crate) log_format: LogFormat,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Clone, ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create the schema if needed, then a new organization (one account, one
    /// workspace, a web and a server input, an API credential), and print it.
    Init {
        #[command(flatten)]
        data: DataArgs,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Serve every API on one listener.
    Serve(ServeArgs),
    /// Count batches, events and profiles, per workspace (safe while serving).
    Stats {
        #[command(flatten)]
        data: DataArgs,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Manage API credentials (OAuth clients).
    #[command(subcommand)]
    Credentials(CredentialsCommand),
    /// Inspect data subject requests and their audit trails (safe while serving).
    #[command(subcommand)]
    Dsr(DsrCommand),
    /// The Request Manager: connect platforms, and run access, deletion and opt-out requests to completion.
    #[command(subcommand)]
    Rm(crate::rm::RmCommand),
}

/// Where the data lives: an embedded SQLite directory or a database URL.
#[derive(Debug, Args)]
pub(crate) struct DataArgs {
    /// Directory of the embedded SQLite store and of the master key file.
    #[arg(long, env = "CUSTOS_DATA_DIR", default_value = "./custos-data")]
    pub(crate) data_dir: PathBuf,
    /// Database URL (`postgres://…` or `sqlite:PATH`) instead of the SQLite store in --data-dir
    /// (which still holds the master key file unless CUSTOS_MASTER_KEY is set).
    #[arg(long, env = "CUSTOS_DATABASE_URL")]
    pub(crate) database_url: Option<String>,
}

impl DataArgs {
    pub(crate) fn source(&self) -> DataSource {
        match &self.database_url {
            Some(url) => DataSource::Url(url.clone()),
            None => DataSource::DataDir(self.data_dir.clone()),
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// A TOML file of settings, keyed by these options' long names
    /// (`erasure-waiting-period = "7d"`); options and environment win over it.
    #[arg(long, env = "CUSTOS_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) data: DataArgs,
    /// Address to listen on.
    #[arg(long, env = "CUSTOS_LISTEN", default_value = "127.0.0.1:8080")]
    pub(crate) listen: String,
    /// An OAuth audience accepted besides https://api.mparticle.com (repeatable).
    #[arg(long, env = "CUSTOS_OAUTH_AUDIENCE", value_delimiter = ',')]
    pub(crate) oauth_audience: Vec<String>,
    /// Requests per minute per organization to the Custom Access Roles API.
    #[arg(long, env = "CUSTOS_ROLES_REQUESTS_PER_MINUTE", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) roles_requests_per_minute: u32,
    /// Event batches per second per workspace (Events API and Web SDK uploads).
    #[arg(long, env = "CUSTOS_EVENTS_BATCHES_PER_SECOND", default_value_t = 270, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) events_batches_per_second: u32,
    /// The base URL clients reach this server at (results_url, the processor
    /// certificate). Default: http:// and the listening address.
    #[arg(long, env = "CUSTOS_PUBLIC_URL")]
    pub(crate) public_url: Option<String>,
    /// How long an erasure waits, cancellable, before it runs (`0s`, `7d`).
    #[arg(long, env = "CUSTOS_ERASURE_WAITING_PERIOD", default_value = "7d", value_parser = humantime::parse_duration)]
    pub(crate) erasure_waiting_period: Duration,
    /// The wait of an erasure that asks to skip the waiting period.
    #[arg(long, env = "CUSTOS_SKIPPED_WAITING_PERIOD", default_value = "0s", value_parser = humantime::parse_duration)]
    pub(crate) skipped_waiting_period: Duration,
    /// A private network status callbacks may reach, as CIDR (repeatable).
    /// Public addresses are always allowed.
    #[arg(long, env = "CUSTOS_ALLOW_CALLBACK_NETWORK", value_delimiter = ',')]
    pub(crate) allow_callback_network: Vec<IpNet>,
    /// A status callback unanswered for this long is abandoned.
    #[arg(long, env = "CUSTOS_CALLBACK_GIVE_UP", default_value = "3d", value_parser = humantime::parse_duration)]
    pub(crate) callback_give_up: Duration,
    /// Requests per minute per workspace to the Data Subject Request API.
    #[arg(long, env = "CUSTOS_DSR_REQUESTS_PER_MINUTE", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) dsr_requests_per_minute: u32,
    /// New data subject requests per day per workspace.
    #[arg(long, env = "CUSTOS_DSR_NEW_REQUESTS_PER_DAY", default_value_t = 80_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) dsr_new_requests_per_day: u32,
    /// How long a worker holds a data subject request without renewing; a
    /// request whose worker died resumes after this.
    #[arg(long, env = "CUSTOS_DSR_LEASE", default_value = "60s", value_parser = humantime::parse_duration)]
    pub(crate) dsr_lease: Duration,
    /// The processor's certificate (PEM) for OpenDSR signatures, with --processor-key.
    /// Default: a key pair and self-signed certificate generated on first use.
    #[arg(long, env = "CUSTOS_PROCESSOR_CERTIFICATE", requires = "processor_key")]
    pub(crate) processor_certificate: Option<PathBuf>,
    /// The private key (PEM, PKCS#8 or PKCS#1 RSA) of --processor-certificate.
    #[arg(long, env = "CUSTOS_PROCESSOR_KEY", requires = "processor_certificate")]
    pub(crate) processor_key: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DsrCommand {
    /// List data subject requests, newest first.
    List {
        #[command(flatten)]
        data: DataArgs,
        /// Only this workspace's requests.
        #[arg(long)]
        workspace: Option<i64>,
        /// Only requests in this status: pending, in_progress, completed, cancelled, failed.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Show one request with its audit trail.
    Show {
        #[command(flatten)]
        data: DataArgs,
        /// The subject_request_id.
        id: String,
        /// The workspace, when several have a request of this id.
        #[arg(long)]
        workspace: Option<i64>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum CredentialsCommand {
    /// Create an API credential with only the listed scopes.
    Create {
        #[command(flatten)]
        data: DataArgs,
        /// The organization the credential belongs to.
        #[arg(long)]
        org: i64,
        /// A display name, to tell credentials apart.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: custom_roles, profile, dsr.
        #[arg(long)]
        scopes: String,
        /// Print `{"client_id", "client_secret"}` instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List an organization's API credentials (never their secrets).
    List {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long)]
        org: i64,
        #[arg(long)]
        json: bool,
    },
    /// Delete an API credential; its access tokens stop working at once.
    Delete {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long)]
        client_id: String,
    },
}
