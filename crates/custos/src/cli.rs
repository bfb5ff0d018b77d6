//! The command line: `custos init | serve | credentials`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use custos_store::DataSource;

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
