//! JSON views of what the store holds, for the HTTP API and `--json` output.
//! Secrets and identities never appear: a connection shows its keys, not its
//! secrets; a request shows the kinds of identity given, not their values.

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::domain::report::Summary;
use crate::domain::request::is_overdue;
use crate::manager::OutboxMessage;
use crate::processor::{Api, Metrics, PACING_SHARE};
use crate::store::{ActivityEntry, Connection, JobRecord, RequestCount, RequestDetail, RequestRecord, User};

pub fn timestamp(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

fn optional_timestamp(at: Option<OffsetDateTime>) -> Value {
    at.map_or(Value::Null, |at| Value::String(timestamp(at)))
}

pub fn connection(connection: &Connection) -> Value {
    let mut value = json!({
        "id": connection.id,
        "name": connection.name,
        "type": "mparticle",
        "workspace_key": connection.workspace_key,
        "web_key": connection.web_key,
        "created_at": timestamp(connection.created_at),
        "checked_at": optional_timestamp(connection.checked_at),
        "certificate_sha256": connection.certificate_sha256,
    });
    match (&connection.pod, &connection.base_url) {
        (Some(pod), _) => value["pod"] = json!(pod),
        (_, Some(url)) => value["base_url"] = json!(url),
        _ => {}
    }
    value
}

/// A request: `extended_deadline` (and `extension`) once extended,
/// `denial_reason` once denied, `timer_at` while a link is out.
pub fn request(request: &RequestRecord, now: OffsetDateTime) -> Value {
    let mut value = json!({
        "id": request.id,
        "type": request.kind.as_str(),
        "regulation": request.regulation.as_str(),
        "status": request.status.as_str(),
        "subject": { "identities": request.subject_kinds },
        "verify": request.verify,
        "approval_required": request.needs_approval,
        "received_at": timestamp(request.received_at),
        "deadline": timestamp(request.deadline),
        "overdue": is_overdue(request.effective_deadline(), request.finished_at, now),
        "created_at": timestamp(request.created_at),
        "finished_at": optional_timestamp(request.finished_at),
        "timer_at": optional_timestamp(request.timer_at),
    });
    if let Some(extension) = &request.extension {
        value["extended_deadline"] = json!(timestamp(extension.deadline));
        value["extension"] = json!({ "days": extension.days, "reason": extension.reason });
    }
    if let Some(reason) = &request.denial_reason {
        value["denial_reason"] = json!(reason);
    }
    value
}

fn job(job: &JobRecord) -> Value {
    json!({
        "connection_id": job.connection_id,
        "connection": job.connection_name,
        "status": job.state.status.as_str(),
        "step": job.state.step.as_str(),
        "subject_request_id": job.processor_request_id,
        "processor_status": job.processor_status,
        "attempts": job.state.attempts,
        "next_attempt_at": optional_timestamp(job.next_attempt_at),
        "last_error": job.last_error,
        "has_results": job.has_results,
        "updated_at": timestamp(job.updated_at),
    })
}

/// A request with each connection's status and the audit trail.
pub fn request_detail(detail: &RequestDetail, now: OffsetDateTime) -> Value {
    let mut value = request(&detail.request, now);
    value["connections"] = detail.jobs.iter().map(job).collect();
    value["audit"] = detail
        .audit
        .iter()
        .map(|entry| {
            json!({
                "at": timestamp(entry.at),
                "connection": entry.connection_name,
                "actor": entry.actor.as_deref().unwrap_or("system"),
                "event": entry.event,
            })
        })
        .collect();
    value
}

/// Requests per status, the summary (open, overdue, due this week, median
/// days to complete per type), and calls made per API with the documented
/// limits they are paced under.
pub fn stats(metrics: &Metrics, requests: &[RequestCount], summary: &Summary) -> Value {
    let apis: serde_json::Map<String, Value> = Api::ALL
        .into_iter()
        .map(|api| {
            let counts = metrics.counts(api);
            let (limit, period) = api.documented_limit();
            let value = json!({
                "calls": counts.calls,
                "throttled": counts.throttled,
                "failed": counts.failed,
                "limit": { "requests": limit, "per_seconds": period.as_secs() },
                "pacing_share": PACING_SHARE,
            });
            (api.short_name().to_owned(), value)
        })
        .collect();
    let requests: serde_json::Map<String, Value> =
        requests.iter().map(|counted| (counted.status.as_str().to_owned(), json!(counted.count))).collect();
    let median: serde_json::Map<String, Value> =
        summary.median_days.iter().map(|(kind, days)| (kind.as_str().to_owned(), json!(days))).collect();
    json!({
        "requests": requests,
        "summary": {
            "open": summary.open,
            "overdue": summary.overdue,
            "due_this_week": summary.due_this_week,
            "median_days_to_complete": median,
        },
        "apis": apis,
    })
}

pub fn user(user: &User) -> Value {
    json!({
        "email": user.email,
        "role": user.role.as_str(),
        "role_label": user.role.label(),
        "notify": user.notify,
        "created_at": timestamp(user.created_at),
    })
}

/// A message waiting to be sent, with the links it carries (to send by hand).
pub fn outbox_message(message: &OutboxMessage) -> Value {
    json!({
        "id": message.id,
        "request_id": message.request_id,
        "kind": message.kind,
        "to": message.to,
        "subject": message.subject,
        "body": message.body,
        "links": message.links,
        "created_at": timestamp(message.created_at),
        "attempts": message.attempts,
        "last_error": message.last_error,
    })
}

pub fn activity(entry: &ActivityEntry) -> Value {
    json!({
        "at": timestamp(entry.at),
        "actor": entry.actor,
        "event": entry.event,
        "request_id": entry.request_id,
        "connection": entry.connection_name,
    })
}
