//! OpenDSR v3 wire formats, as mParticle (and Custos) speak them.

use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::domain::job::{opendsr_type, ProcessorStatus};
use crate::domain::request::{Regulation, RequestKind, Subject};

/// mParticle's extension key, under which it takes the identities that have
/// no top-level OpenDSR name (phone numbers) and `skip_waiting_period`.
pub const MPARTICLE_EXTENSION: &str = "opendsr.mparticle.com";

/// The body of `POST /requests`.
pub fn request_body(
    subject_request_id: &str,
    kind: RequestKind,
    regulation: Regulation,
    subject: &Subject,
    submitted_time: OffsetDateTime,
    callback_url: Option<&str>,
) -> Value {
    let raw = |value: &str| json!({ "value": value, "encoding": "raw" });
    let mut identities = Map::new();
    if let Some(email) = &subject.email {
        identities.insert("email".into(), raw(email));
    }
    if let Some(customer_id) = &subject.customer_id {
        identities.insert("controller_customer_id".into(), raw(customer_id));
    }
    let mut extension = Map::new();
    // The subject's verified request has been accepted: nothing is gained by
    // the processor's cancellation window, and the deadline is running.
    extension.insert("skip_waiting_period".into(), Value::Bool(true));
    if let Some(phone) = &subject.phone {
        extension.insert("subject_identities".into(), json!({ "mobile_number": raw(phone) }));
    }
    let mut body = json!({
        "regulation": regulation.as_str(),
        "subject_request_id": subject_request_id,
        "subject_request_type": opendsr_type(kind),
        "submitted_time": submitted_time.format(&Rfc3339).unwrap_or_default(),
        "subject_identities": identities,
        "api_version": "3.0",
        "extensions": { MPARTICLE_EXTENSION: extension },
    });
    if let Some(url) = callback_url {
        body["status_callback_urls"] = json!([url]);
    }
    body
}

/// What a status object (a `GET /requests/{id}` answer or a callback) says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    pub subject_request_id: String,
    pub status: ProcessorStatus,
    pub results_url: Option<String>,
}

/// Reads a status object; `None` if it is not one.
pub fn parse_status(value: &Value) -> Option<StatusReport> {
    let subject_request_id = value["subject_request_id"].as_str()?.to_owned();
    let status = match value["request_status"].as_str()? {
        "pending" => ProcessorStatus::Pending,
        "in_progress" => ProcessorStatus::InProgress,
        "completed" => ProcessorStatus::Completed,
        "cancelled" => {
            // Custos reports a failed request as cancelled, with its reason.
            let custos = &value["extensions"]["custos"];
            let reason = custos["reason"].as_str().or_else(|| custos["status"].as_str());
            ProcessorStatus::Cancelled { reason: reason.map(|r| r.chars().take(300).collect()) }
        }
        _ => return None,
    };
    let results_url = value["results_url"].as_str().filter(|url| !url.is_empty()).map(str::to_owned);
    Some(StatusReport { subject_request_id, status, results_url })
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn a_request_carries_identities_in_their_opendsr_places() {
        let subject = Subject {
            email: Some("ann@example.com".into()),
            customer_id: Some("c-1".into()),
            phone: Some("+15550100".into()),
        };
        let body = request_body(
            "4b1c2e9a-5f7d-4c3b-9e8a-1d2f3a4b5c6d",
            RequestKind::Deletion,
            Regulation::Gdpr,
            &subject,
            datetime!(2025-01-02 03:04:05 UTC),
            Some("http://rm.test/rm/v1/callbacks/opendsr"),
        );
        assert_eq!(body["subject_request_type"], "erasure");
        assert_eq!(body["regulation"], "gdpr");
        assert_eq!(body["submitted_time"], "2025-01-02T03:04:05Z");
        assert_eq!(body["subject_identities"]["email"], json!({"value": "ann@example.com", "encoding": "raw"}));
        assert_eq!(body["subject_identities"]["controller_customer_id"]["value"], "c-1");
        let extension = &body["extensions"][MPARTICLE_EXTENSION];
        assert_eq!(extension["skip_waiting_period"], true);
        assert_eq!(extension["subject_identities"]["mobile_number"]["value"], "+15550100");
        assert_eq!(body["status_callback_urls"], json!(["http://rm.test/rm/v1/callbacks/opendsr"]));
    }

    #[test]
    fn statuses_are_read_with_their_results_and_reasons() {
        let completed = json!({"subject_request_id": "a", "request_status": "completed", "results_url": "http://p/r"});
        let report = parse_status(&completed).unwrap();
        assert_eq!(report.status, ProcessorStatus::Completed);
        assert_eq!(report.results_url.as_deref(), Some("http://p/r"));
        let failed = json!({"subject_request_id": "a", "request_status": "cancelled",
                            "extensions": {"custos": {"status": "failed", "reason": "no identities"}}});
        assert_eq!(
            parse_status(&failed).unwrap().status,
            ProcessorStatus::Cancelled { reason: Some("no identities".into()) }
        );
        assert_eq!(parse_status(&json!({"subject_request_id": "a", "request_status": "lost"})), None);
        assert_eq!(parse_status(&json!({"request_status": "pending"})), None);
    }
}
