//! The OpenDSR v3 wire format: reading a create request's body, writing
//! status objects.

use custos_core::dsr::{self, Regulation, RequestStatus, RequestType, Subject, MAX_IDENTITIES, MPID_IDENTITY};
use custos_core::identity::{Identity, Mpid};
use custos_store::SubjectRequest;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// mParticle's key in `extensions`.
pub(crate) const MPARTICLE_EXTENSION: &str = "opendsr.mparticle.com";
/// Custos's flag, in mParticle's extension, asking an erasure to suppress the subject.
pub(crate) const SUPPRESS_FLAG: &str = "suppress_subject";
/// Custos's key in a status's `extensions`.
pub(crate) const CUSTOS_EXTENSION: &str = "custos";
pub(crate) const API_VERSION: &str = "3.0";

const MAX_VALUE_CHARS: usize = 1024;
const MAX_GROUP_ID_CHARS: usize = 150;
const MAX_CALLBACK_URLS: usize = 10;

/// A create request's body, validated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CreateBody {
    pub(crate) regulation: Regulation,
    pub(crate) request_id: String,
    pub(crate) request_type: RequestType,
    pub(crate) submitted_at_ms: i64,
    pub(crate) subject: Subject,
    pub(crate) callback_urls: Vec<String>,
    pub(crate) group_id: Option<String>,
    pub(crate) skip_waiting_period: bool,
    pub(crate) suppress: bool,
}

/// Reads a create body; every rule broken is named, with its field.
pub(crate) fn parse_create(body: &[u8]) -> Result<CreateBody, Vec<String>> {
    let value: Value = serde_json::from_slice(body).map_err(|e| vec![format!("body: invalid JSON: {e}")])?;
    let Value::Object(object) = value else { return Err(vec!["body: must be a JSON object".into()]) };
    let mut errors = Vec::new();

    let regulation = match object.get("regulation") {
        Some(Value::String(text)) => Regulation::parse(text).or_else(|| {
            errors.push(format!("regulation: must be gdpr or ccpa, not `{text}`"));
            None
        }),
        _ => {
            errors.push("regulation: required, gdpr or ccpa".into());
            None
        }
    };
    let request_id = match object.get("subject_request_id") {
        Some(Value::String(text)) if is_lowercase_uuid_v4(text) => Some(text.clone()),
        Some(Value::String(_)) => {
            errors.push("subject_request_id: must be a UUID version 4 in lowercase".into());
            None
        }
        _ => {
            errors.push("subject_request_id: required, a UUID version 4".into());
            None
        }
    };
    let request_type = match object.get("subject_request_type") {
        Some(Value::String(text)) => RequestType::parse(text).or_else(|| {
            errors.push(format!("subject_request_type: must be access, portability or erasure, not `{text}`"));
            None
        }),
        _ => {
            errors.push("subject_request_type: required, access, portability or erasure".into());
            None
        }
    };
    let submitted_at_ms = match object.get("submitted_time") {
        Some(Value::String(text)) => parse_time(text).or_else(|| {
            errors.push("submitted_time: must be an RFC 3339 date and time".into());
            None
        }),
        _ => {
            errors.push("submitted_time: required, an RFC 3339 date and time".into());
            None
        }
    };
    match object.get("api_version") {
        None | Some(Value::Null) => {}
        Some(Value::String(version)) if version == API_VERSION => {}
        Some(_) => errors.push(format!("api_version: this is the {API_VERSION} API")),
    }

    let extension = match object.get("extensions") {
        None | Some(Value::Null) => None,
        Some(Value::Object(extensions)) => match extensions.get(MPARTICLE_EXTENSION) {
            None | Some(Value::Null) => None,
            Some(Value::Object(extension)) => Some(extension),
            Some(_) => {
                errors.push(format!("extensions.{MPARTICLE_EXTENSION}: must be an object"));
                None
            }
        },
        Some(_) => {
            errors.push("extensions: must be an object".into());
            None
        }
    };

    let skip_waiting_period = flag(&object, "skip_waiting_period", "skip_waiting_period", &mut errors)
        || extension.is_some_and(|e| {
            flag(
                e,
                "skip_waiting_period",
                &format!("extensions.{MPARTICLE_EXTENSION}.skip_waiting_period"),
                &mut errors,
            )
        });
    let suppress = extension.is_some_and(|e| {
        flag(e, SUPPRESS_FLAG, &format!("extensions.{MPARTICLE_EXTENSION}.{SUPPRESS_FLAG}"), &mut errors)
    });

    let subject = read_subject(object.get("subject_identities"), extension, &mut errors);

    let callback_urls = match object.get("status_callback_urls") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(urls)) if urls.len() <= MAX_CALLBACK_URLS => urls
            .iter()
            .enumerate()
            .filter_map(|(i, url)| match url.as_str() {
                Some(url) => Some(url.to_owned()),
                None => {
                    errors.push(format!("status_callback_urls[{i}]: must be a string"));
                    None
                }
            })
            .collect(),
        Some(Value::Array(_)) => {
            errors.push(format!("status_callback_urls: at most {MAX_CALLBACK_URLS} URLs"));
            Vec::new()
        }
        Some(_) => {
            errors.push("status_callback_urls: must be an array of URLs".into());
            Vec::new()
        }
    };
    let group_id = match object.get("group_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(group)) if !group.is_empty() && group.chars().count() <= MAX_GROUP_ID_CHARS => {
            Some(group.clone())
        }
        Some(_) => {
            errors.push(format!("group_id: must be a string of 1 to {MAX_GROUP_ID_CHARS} characters"));
            None
        }
    };

    match (regulation, request_id, request_type, submitted_at_ms, subject) {
        (Some(regulation), Some(request_id), Some(request_type), Some(submitted_at_ms), Some(subject))
            if errors.is_empty() =>
        {
            Ok(CreateBody {
                regulation,
                request_id,
                request_type,
                submitted_at_ms,
                subject,
                callback_urls,
                group_id,
                skip_waiting_period,
                suppress,
            })
        }
        _ => Err(errors),
    }
}

fn flag(object: &Map<String, Value>, key: &str, path: &str, errors: &mut Vec<String>) -> bool {
    match object.get(key) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => {
            errors.push(format!("{path}: must be true or false"));
            false
        }
    }
}

/// The identities of the top level and of mParticle's extension.
fn read_subject(
    top_level: Option<&Value>,
    extension: Option<&Map<String, Value>>,
    errors: &mut Vec<String>,
) -> Option<Subject> {
    let mut identities: Vec<Identity> = Vec::new();
    let mut mpid = None;
    let mut named = 0usize;
    let before = errors.len();
    let sources = [
        ("subject_identities".to_owned(), top_level, false),
        (
            format!("extensions.{MPARTICLE_EXTENSION}.subject_identities"),
            extension.and_then(|e| e.get("subject_identities")),
            true,
        ),
    ];
    for (path, source, in_extension) in sources {
        let entries = match source {
            None | Some(Value::Null) => continue,
            Some(Value::Object(entries)) => entries,
            Some(Value::Array(_)) => {
                errors
                    .push(format!("{path}: must be an object keyed by identity type (the array form is API v1/v2's)"));
                continue;
            }
            Some(_) => {
                errors.push(format!("{path}: must be an object keyed by identity type"));
                continue;
            }
        };
        for (name, entry) in entries {
            let field = format!("{path}.{name}");
            let Some(value) = identity_value(entry, &field, errors) else { continue };
            named += 1;
            if in_extension && name == MPID_IDENTITY {
                match value.parse::<i64>() {
                    Ok(parsed) if parsed != 0 => mpid = Some(Mpid(parsed)),
                    _ => errors.push(format!("{field}.value: must be a non-zero 64-bit integer")),
                }
                continue;
            }
            let kind = if in_extension { dsr::extension_identity(name) } else { dsr::top_level_identity(name) };
            let Some(kind) = kind else {
                let hint = if !in_extension && dsr::extension_identity(name).is_some() || name == MPID_IDENTITY {
                    format!(" (send it in extensions.{MPARTICLE_EXTENSION}.subject_identities)")
                } else {
                    String::new()
                };
                errors.push(format!("{field}: unknown identity type{hint}"));
                continue;
            };
            if identities.iter().any(|identity| identity.kind == kind) {
                errors.push(format!("{field}: Only one identity per identity type is allowed."));
                continue;
            }
            identities.push(Identity::new(kind, value));
        }
    }
    if errors.len() > before {
        return None;
    }
    if named == 0 {
        errors.push("subject_identities: at least one identity is required".into());
        return None;
    }
    if named > MAX_IDENTITIES {
        errors.push(format!("subject_identities: at most {MAX_IDENTITIES} identities"));
        return None;
    }
    match mpid {
        Some(_) if named > 1 => {
            errors.push("If an mpid is provided, it must be the only identity in the request.".into());
            None
        }
        Some(mpid) => Some(Subject::Mpid(mpid)),
        None => Some(Subject::Identities(identities)),
    }
}

fn identity_value(entry: &Value, field: &str, errors: &mut Vec<String>) -> Option<String> {
    let Value::Object(entry) = entry else {
        errors.push(format!("{field}: must be an object with value and encoding"));
        return None;
    };
    match entry.get("encoding") {
        Some(Value::String(encoding)) if encoding == "raw" => {}
        Some(Value::String(encoding)) => {
            errors.push(format!("{field}.encoding: only raw is supported, not `{encoding}`"));
            return None;
        }
        _ => {
            errors.push(format!("{field}.encoding: required, raw"));
            return None;
        }
    }
    match entry.get("value") {
        Some(Value::String(value)) if !value.is_empty() && value.chars().count() <= MAX_VALUE_CHARS => {
            Some(value.clone())
        }
        Some(Value::Number(number)) => Some(number.to_string()),
        _ => {
            errors.push(format!("{field}.value: required, a string of 1 to {MAX_VALUE_CHARS} characters"));
            None
        }
    }
}

fn is_lowercase_uuid_v4(text: &str) -> bool {
    uuid::Uuid::try_parse(text).is_ok_and(|uuid| uuid.get_version_num() == 4 && uuid.hyphenated().to_string() == text)
}

/// RFC 3339, leniently: fractions of any length, and a missing offset read as UTC.
fn parse_time(text: &str) -> Option<i64> {
    let parsed =
        OffsetDateTime::parse(text, &Rfc3339).or_else(|_| OffsetDateTime::parse(&format!("{text}Z"), &Rfc3339));
    parsed.ok().map(|at| (at.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Unix milliseconds as RFC 3339 in UTC.
pub fn format_time(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Where an export is downloaded.
pub(crate) fn results_url(public_url: &str, request_id: &str) -> String {
    format!("{public_url}/v3/requests/{request_id}/results")
}

/// The status object of GET /requests/{id} and of callbacks.
pub(crate) fn status_object(request: &SubjectRequest, status: RequestStatus, public_url: &str) -> Value {
    let completed = status == RequestStatus::Completed;
    let results_url =
        (completed && request.request_type.exports()).then(|| results_url(public_url, &request.request_id));
    let extensions = match (status, &request.failure_reason) {
        (RequestStatus::Failed, reason) => {
            json!({ CUSTOS_EXTENSION: { "status": "failed", "reason": reason } })
        }
        _ => Value::Null,
    };
    json!({
        "controller_id": request.workspace_id.0.to_string(),
        "expected_completion_time": format_time(request.expected_completion_ms),
        "received_time": format_time(request.received_at_ms),
        "subject_request_id": request.request_id,
        "group_id": request.group_id,
        "request_status": status.wire_name(),
        "api_version": request.api_version,
        "results_url": results_url,
        "results_count": if completed && request.request_type.exports() { request.matched_profiles } else { None },
        "extensions": extensions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "a7551968-d5d6-44b2-9831-815ac9017798";

    fn body(extra: Value) -> Vec<u8> {
        let mut base = json!({
            "regulation": "gdpr",
            "subject_request_id": ID,
            "subject_request_type": "erasure",
            "submitted_time": "2021-11-01T15:00:00Z",
            "subject_identities": { "email": { "value": "john@example.com", "encoding": "raw" } },
        });
        for (key, value) in extra.as_object().unwrap() {
            base[key] = value.clone();
        }
        serde_json::to_vec(&base).unwrap()
    }

    #[test]
    fn the_documented_example_is_read_whole() {
        let parsed = parse_create(&body(json!({
            "subject_identities": {
                "email": { "value": "john@example.com", "encoding": "raw" },
                "controller_customer_id": { "value": "123", "encoding": "raw" },
            },
            "api_version": "3.0",
            "status_callback_urls": ["https://controller.example/opendsr/callbacks"],
            "group_id": "my-group",
            "extensions": { "opendsr.mparticle.com": {
                "skip_waiting_period": true,
                "suppress_subject": true,
                "subject_identities": { "other6": { "value": "o6", "encoding": "raw" } },
            } },
        })))
        .unwrap();
        assert_eq!(parsed.request_type, RequestType::Erasure);
        assert!(parsed.skip_waiting_period && parsed.suppress);
        let Subject::Identities(identities) = parsed.subject else { panic!() };
        assert_eq!(identities.len(), 3);
        assert_eq!(parsed.submitted_at_ms, 1_635_778_800_000);
    }

    #[test]
    fn broken_rules_are_named_with_their_field() {
        let cases = [
            (json!({ "regulation": "hipaa" }), "regulation"),
            (json!({ "subject_request_id": "A7551968-D5D6-44B2-9831-815AC9017798" }), "subject_request_id"),
            (json!({ "subject_request_id": "a7551968-d5d6-14b2-9831-815ac9017798" }), "subject_request_id"),
            (json!({ "subject_request_type": "delete" }), "subject_request_type"),
            (json!({ "submitted_time": "yesterday" }), "submitted_time"),
            (json!({ "subject_identities": { "email": { "value": "x", "encoding": "sha256" } } }), "only raw"),
            (json!({ "subject_identities": { "shoe_size": { "value": "x", "encoding": "raw" } } }), "unknown identity"),
            (json!({ "subject_identities": [{ "identity_type": "email" }] }), "array form"),
            (json!({ "subject_identities": {} }), "at least one identity"),
            (json!({ "status_callback_urls": "https://x" }), "status_callback_urls"),
            (json!({ "skip_waiting_period": "yes" }), "skip_waiting_period"),
            (
                json!({ "extensions": { "opendsr.mparticle.com": { "subject_identities": { "mpid": { "value": "42", "encoding": "raw" } } } } }),
                "mpid is provided, it must be the only identity",
            ),
        ];
        for (change, expected) in cases {
            let errors = parse_create(&body(change.clone())).unwrap_err().join("\n");
            assert!(errors.contains(expected), "{change}: {errors}");
        }
        assert!(parse_create(b"{").unwrap_err()[0].starts_with("body: invalid JSON"));
    }

    #[test]
    fn an_mpid_alone_is_a_subject_and_lenient_times_parse() {
        let parsed = parse_create(&body(json!({
            "subject_identities": null,
            "submitted_time": "2018-05-07T20:53:48.322652",
            "extensions": { "opendsr.mparticle.com": { "subject_identities": { "mpid": { "value": "-42", "encoding": "raw" } } } },
        })))
        .unwrap();
        assert_eq!(parsed.subject, Subject::Mpid(Mpid(-42)));
    }
}
