//! Data subject requests as operators see them (the admin API and
//! `custos dsr`): every field, Custos's own status names, and the audit
//! trail. Never the subject's identities: the store does not hand them out.

use custos_store::{AuditEntry, SubjectRequest};
use serde_json::{json, Value};

pub use crate::dsr::wire::format_time;

pub fn request_json(request: &SubjectRequest, audit: Option<&[AuditEntry]>) -> Value {
    let mut body = json!({
        "workspace_id": request.workspace_id.0,
        "subject_request_id": request.request_id,
        "regulation": request.regulation.as_str(),
        "subject_request_type": request.request_type.as_str(),
        "status": request.status.as_str(),
        "group_id": request.group_id,
        "submitted_time": format_time(request.submitted_at_ms),
        "received_time": format_time(request.received_at_ms),
        "process_after": format_time(request.process_after_ms),
        "expected_completion_time": format_time(request.expected_completion_ms),
        "completed_time": request.completed_at_ms.map(format_time),
        "suppress_subject": request.suppress,
        "callback_urls": request.callback_urls,
        "attempts": request.attempts,
        "last_error": request.last_error,
        "failure_reason": request.failure_reason,
        "matched_profiles": request.matched_profiles,
        "export_bytes": request.export_bytes,
        "export_expires_time": request.export_expires_ms.map(format_time),
    });
    if let Some(audit) = audit {
        body["audit"] = audit
            .iter()
            .map(|entry| {
                json!({
                    "at": format_time(entry.at_ms),
                    "step": entry.step,
                    "detail": serde_json::from_str::<Value>(&entry.detail).unwrap_or(Value::Null),
                })
            })
            .collect();
    }
    body
}
