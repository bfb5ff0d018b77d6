//! JSON views of what the store holds, for the HTTP API and `--json` output.
//! Secrets and identities never appear: a connection shows its keys, not its
//! secrets; a request shows the kinds of identity given, not their values.

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::domain::request::is_overdue;
use crate::processor::{Api, Metrics, PACING_SHARE};
use crate::store::{Connection, JobRecord, RequestCount, RequestDetail, RequestRecord};

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
    });
    match (&connection.pod, &connection.base_url) {
        (Some(pod), _) => value["pod"] = json!(pod),
        (_, Some(url)) => value["base_url"] = json!(url),
        _ => {}
    }
    value
}

pub fn request(request: &RequestRecord, now: OffsetDateTime) -> Value {
    json!({
        "id": request.id,
        "type": request.kind.as_str(),
        "regulation": request.regulation.as_str(),
        "status": request.status.as_str(),
        "subject": { "identities": request.subject_kinds },
        "received_at": timestamp(request.received_at),
        "deadline": timestamp(request.deadline),
        "overdue": is_overdue(request.deadline, request.finished_at, now),
        "created_at": timestamp(request.created_at),
        "finished_at": optional_timestamp(request.finished_at),
    })
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
        .map(|entry| json!({ "at": timestamp(entry.at), "connection": entry.connection_name, "event": entry.event }))
        .collect();
    value
}

/// Requests per status, and calls made per API with the documented limits
/// they are paced under.
pub fn stats(metrics: &Metrics, requests: &[RequestCount]) -> Value {
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
    json!({ "requests": requests, "apis": apis })
}
