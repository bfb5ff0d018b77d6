//! `custos rm users | tokens | outbox`: the console's people, API tokens
//! with a role, and the mail waiting to be sent by hand.

use anyhow::Context;
use clap::Subcommand;
use custos_rm::domain::role::{Actor, Role};
use custos_rm::views;

use super::{explain, print, RmDataArgs, WorkflowArgs};

#[derive(Debug, Subcommand)]
pub(crate) enum UsersCommand {
    /// Add a user with a role (or change an existing one's) and print a one-time link that sets their password.
    Invite {
        #[command(flatten)]
        data: RmDataArgs,
        #[command(flatten)]
        workflow: WorkflowArgs,
        #[arg(long)]
        email: String,
        /// super_admin, connections_manager, request_manager or viewer.
        #[arg(long)]
        role: String,
        /// Tell them when a request fails, nears its deadline or passes it.
        #[arg(long)]
        notify: bool,
        /// Print `{"email", "invite_url"}`.
        #[arg(long)]
        json: bool,
    },
    /// List the users with their roles.
    List {
        #[command(flatten)]
        data: RmDataArgs,
        #[arg(long)]
        json: bool,
    },
    /// Remove a user; their sessions end at once.
    Remove {
        #[command(flatten)]
        data: RmDataArgs,
        #[arg(long)]
        email: String,
    },
    /// Print a one-time link that sets a new password (and signs the user out everywhere).
    ResetPassword {
        #[command(flatten)]
        data: RmDataArgs,
        #[command(flatten)]
        workflow: WorkflowArgs,
        #[arg(long)]
        email: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokensCommand {
    /// Issue an API token with a role (printed once; only its digest is kept).
    Create {
        #[command(flatten)]
        data: RmDataArgs,
        /// super_admin, connections_manager, request_manager or viewer.
        #[arg(long)]
        role: String,
        /// A name for the audit trail (default: the role's).
        #[arg(long)]
        name: Option<String>,
        /// Print `{"api_token", "name", "role"}`.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum OutboxCommand {
    /// The messages not sent yet, with the links they carry.
    List {
        #[command(flatten)]
        data: RmDataArgs,
        #[arg(long)]
        json: bool,
    },
    /// Record that a message was sent by hand.
    MarkSent {
        #[command(flatten)]
        data: RmDataArgs,
        id: i64,
    },
}

fn role(text: &str) -> anyhow::Result<Role> {
    Role::parse(text).with_context(|| {
        format!("--role `{text}` is not a role: super_admin, connections_manager, request_manager or viewer")
    })
}

pub(crate) async fn users(command: UsersCommand) -> anyhow::Result<()> {
    match command {
        UsersCommand::Invite { data, workflow, email, role: wanted, notify, json } => {
            let manager = data.open_with(&workflow).await?;
            let notify = notify.then_some(true);
            let (user, link) =
                manager.invite_user(&email, role(&wanted)?, notify, &Actor::Cli).await.map_err(explain)?;
            let value = serde_json::json!({ "email": user.email, "invite_url": link.url.as_str() });
            print(&value, json, |v| {
                format!(
                    "{} ({}) sets their password at (once, within 72 hours):\n  {}",
                    user.email,
                    user.role.label(),
                    v["invite_url"].as_str().unwrap_or_default()
                )
            });
        }
        UsersCommand::List { data, json } => {
            let users = data.open().await?.users().await.map_err(explain)?;
            let list: Vec<_> = users.iter().map(views::user).collect();
            print(&serde_json::json!({ "users": list }), json, |_| {
                users
                    .iter()
                    .map(|u| format!("{}  {}{}", u.email, u.role.label(), if u.notify { "  (notices)" } else { "" }))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        UsersCommand::Remove { data, email } => {
            data.open().await?.remove_user(&email, &Actor::Cli).await.map_err(explain)?;
            eprintln!("removed {email}; their sessions have ended");
        }
        UsersCommand::ResetPassword { data, workflow, email, json } => {
            let link = data.open_with(&workflow).await?.reset_password(&email, &Actor::Cli).await.map_err(explain)?;
            let value = serde_json::json!({ "email": email, "reset_url": link.url.as_str() });
            print(&value, json, |v| {
                format!("{email} sets a new password at (once):\n  {}", v["reset_url"].as_str().unwrap_or_default())
            });
        }
    }
    Ok(())
}

pub(crate) async fn tokens(command: TokensCommand) -> anyhow::Result<()> {
    match command {
        TokensCommand::Create { data, role: wanted, name, json } => {
            let role = role(&wanted)?;
            let name = name.unwrap_or_else(|| format!("{}-token", role.as_str()));
            let manager = data.open().await?;
            let (token, issued) = manager.issue_api_token(role, &name, &Actor::Cli).await.map_err(explain)?;
            let value = serde_json::json!({ "api_token": token, "name": issued.name, "role": role.as_str() });
            print(&value, json, |_| {
                format!(
                    "API token `{}` ({}), shown once (Authorization: Bearer …):\n  {token}",
                    issued.name,
                    role.label()
                )
            });
        }
    }
    Ok(())
}

pub(crate) async fn outbox(command: OutboxCommand) -> anyhow::Result<()> {
    match command {
        OutboxCommand::List { data, json } => {
            let messages = data.open().await?.unsent_mail(1000).await.map_err(explain)?;
            let list: Vec<_> = messages.iter().map(views::outbox_message).collect();
            print(&serde_json::json!({ "messages": list }), json, |_| {
                messages
                    .iter()
                    .map(|m| format!("{:>5}  {}  {}  {}\n{}", m.id, m.kind, m.to, m.subject, m.body))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        OutboxCommand::MarkSent { data, id } => {
            data.open().await?.mark_mail_sent(id, &Actor::Cli).await.map_err(explain)?;
            eprintln!("message {id} is marked as sent");
        }
    }
    Ok(())
}
