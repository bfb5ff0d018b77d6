//! What the CLI prints: JSON for tools, text for people.

use custos_server::dsr_report::request_json;
use custos_server::provision::{IssuedKey, ProvisionedOrganization};
use custos_store::{ApiCredential, AuditEntry, Counts, Stats, SubjectRequest};
use serde_json::json;

fn pair(issued: &IssuedKey, key: &str, secret: &str) -> serde_json::Value {
    json!({ key: issued.key, secret: issued.secret })
}

pub(crate) fn print_organization(org: &ProvisionedOrganization, as_json: bool) {
    if as_json {
        let value = json!({
            "org_id": org.ids.org_id.0,
            "account_id": org.ids.account_id.0,
            "workspace_id": org.ids.workspace_id.0,
            "api_client": pair(&org.api_client, "client_id", "client_secret"),
            "workspace": pair(&org.workspace, "key", "secret"),
            "inputs": {
                "web": pair(&org.web_input, "key", "secret"),
                "server": pair(&org.server_input, "key", "secret"),
            },
        });
        println!("{value}");
        return;
    }
    println!(
        "organization {org_id}, account {account_id}, workspace {workspace_id}\n\
         \n\
         API client (OAuth client credentials, every scope)\n  client_id:     {}\n  client_secret: {}\n\
         Workspace (Data Subject Request API)\n  key:    {}\n  secret: {}\n\
         Web input (Web SDK, Identity API)\n  key:    {}\n  secret: {}\n\
         Server-to-server input (Events API)\n  key:    {}\n  secret: {}\n\
         \n\
         Secrets are stored only as hashes: keep them now, they cannot be shown again.",
        org.api_client.key,
        org.api_client.secret,
        org.workspace.key,
        org.workspace.secret,
        org.web_input.key,
        org.web_input.secret,
        org.server_input.key,
        org.server_input.secret,
        org_id = org.ids.org_id,
        account_id = org.ids.account_id,
        workspace_id = org.ids.workspace_id,
    );
}

pub(crate) fn print_credential(issued: &IssuedKey, as_json: bool) {
    if as_json {
        println!("{}", pair(issued, "client_id", "client_secret"));
    } else {
        println!(
            "client_id:     {}\nclient_secret: {}\nThe secret is stored only as a hash: keep it now.",
            issued.key, issued.secret
        );
    }
}

pub(crate) fn print_credentials(credentials: &[ApiCredential], as_json: bool) {
    let rows: Vec<_> = credentials
        .iter()
        .map(|c| {
            json!({
                "client_id": c.client_id,
                "name": c.name,
                "scopes": c.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                "created_at": c.created_at.unix_timestamp(),
            })
        })
        .collect();
    if as_json {
        println!("{}", serde_json::Value::Array(rows));
    } else {
        for c in credentials {
            let scopes: Vec<_> = c.scopes.iter().map(|s| s.as_str()).collect();
            println!("{}  {}  [{}]", c.client_id, c.name, scopes.join(","));
        }
    }
}

pub(crate) fn print_stats(stats: &Stats, as_json: bool) {
    let counts = |c: &Counts| json!({ "batches": c.batches, "events": c.events, "profiles": c.profiles });
    if as_json {
        let mut value = counts(&stats.totals);
        value["workspaces"] = stats
            .workspaces
            .iter()
            .map(|workspace| {
                let mut row = counts(&workspace.counts);
                row["workspace_id"] = json!(workspace.workspace_id.0);
                row
            })
            .collect();
        println!("{value}");
        return;
    }
    println!("{:<14} {:>12} {:>14} {:>12}", "workspace", "batches", "events", "profiles");
    for workspace in &stats.workspaces {
        let (id, c) = (workspace.workspace_id, &workspace.counts);
        println!("{:<14} {:>12} {:>14} {:>12}", id.0, c.batches, c.events, c.profiles);
    }
    let t = &stats.totals;
    println!("{:<14} {:>12} {:>14} {:>12}", "total", t.batches, t.events, t.profiles);
}

pub(crate) fn print_subject_requests(requests: &[SubjectRequest], as_json: bool) {
    if as_json {
        let list: Vec<_> = requests.iter().map(|request| request_json(request, None)).collect();
        println!("{}", serde_json::Value::Array(list));
        return;
    }
    if requests.is_empty() {
        println!("no data subject requests");
        return;
    }
    println!("{:<36}  {:>9}  {:<11}  {:<11}  received", "subject_request_id", "workspace", "type", "status");
    for request in requests {
        println!(
            "{:<36}  {:>9}  {:<11}  {:<11}  {}",
            request.request_id,
            request.workspace_id.0,
            request.request_type.as_str(),
            request.status.as_str(),
            custos_server::dsr_report::format_time(request.received_at_ms),
        );
    }
}

pub(crate) fn print_subject_request(request: &SubjectRequest, audit: &[AuditEntry], as_json: bool) {
    let report = request_json(request, Some(audit));
    if as_json {
        println!("{report}");
        return;
    }
    for (key, value) in report.as_object().into_iter().flatten().filter(|(key, _)| *key != "audit") {
        if !value.is_null() {
            println!("{key:<26} {}", value.as_str().map_or_else(|| value.to_string(), str::to_owned));
        }
    }
    println!("\naudit trail:");
    for entry in audit {
        println!("  {}  {:<20} {}", custos_server::dsr_report::format_time(entry.at_ms), entry.step, entry.detail);
    }
}
