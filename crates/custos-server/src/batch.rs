//! Reading an Events API batch: what real SDKs send is accepted (extra keys,
//! nulls, numeric attribute values, `customerid` or `customer_id`, an MPID
//! as number or string); what is malformed is refused with the path of the
//! field and the rule it breaks.
//!
//! Events are most of a batch's bytes, and the rules look at three keys of
//! their data: a well-formed batch is read in one pass that skims them
//! ([`read_well_formed`]), without building the tree of JSON values that
//! [`parse_batch`] walks to name each problem of a malformed one.
//!
//! The rules themselves (event types, environments, consent purposes, the
//! `device_info` identities, reaching a profile) are the core's
//! (`custos_core::events`, `custos_core::identity`): both readers ask them.

use std::borrow::Cow;

use custos_core::events::{check_reaches_profile, consent_purpose, Environment, EventType, CONSENT_REGULATIONS};
use custos_core::identity::{DeviceInfoIdentity, Identity, IdentityType, Mpid, DEVICE_INFO_IDENTITIES};
use custos_store::ConsentRecord;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// A batch's facts, before the server adds where and when it arrived.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParsedBatch {
    pub(crate) source_request_id: Option<String>,
    pub(crate) mpid: Option<Mpid>,
    pub(crate) identities: Vec<Identity>,
    pub(crate) attributes: Vec<(String, String)>,
    pub(crate) deleted_attributes: Vec<String>,
    pub(crate) consent: Vec<ConsentRecord>,
    pub(crate) opted_out: Option<bool>,
    pub(crate) event_count: i64,
}

/// Reads one batch; `at` names it in messages (`batch`, `[3]`).
pub(crate) fn parse_batch(value: &Value, at: &str) -> Result<ParsedBatch, Vec<String>> {
    let Value::Object(batch) = value else {
        return Err(vec![format!("{at}: must be a JSON object")]);
    };
    parse_fields(batch, at, |parsed, problems| {
        parse_events(batch.get("events"), &format!("{at}.events"), parsed, problems)
    })
}

/// Reads a well-formed batch in one pass, without building its events: the
/// fields the batch is read for are taken as they are in the text, and the
/// events' data only for the keys the rules look at. `None` for anything
/// else, which [`parse_batch`] then reads the long way, naming what is wrong.
/// Both read a batch they accept alike (see the tests).
pub(crate) fn read_well_formed(text: &str) -> Option<ParsedBatch> {
    let skim: Skim<'_> = serde_json::from_str(text).ok()?;
    let events = skim_events(skim.events.as_deref().unwrap_or_default())?;
    let mut batch = Map::new();
    for (name, raw) in [
        ("source_request_id", skim.source_request_id),
        ("environment", skim.environment),
        ("mpid", skim.mpid),
        ("user_identities", skim.user_identities),
        ("device_info", skim.device_info),
        ("mp_deviceid", skim.mp_deviceid),
        ("user_attributes", skim.user_attributes),
        ("deleted_user_attributes", skim.deleted_user_attributes),
        ("consent_state", skim.consent_state),
    ] {
        if let Some(raw) = raw {
            batch.insert(name.to_owned(), serde_json::from_str(raw.get()).ok()?);
        }
    }
    parse_fields(&batch, "batch", |parsed, _| {
        parsed.event_count = events.count;
        parsed.opted_out = events.opted_out;
    })
    .ok()
}

/// What [`read_well_formed`] reads of a batch. A field of another type than
/// these, or a duplicate one, fails the whole read.
#[derive(Deserialize)]
struct Skim<'a> {
    #[serde(borrow)]
    source_request_id: Option<&'a RawValue>,
    #[serde(borrow)]
    environment: Option<&'a RawValue>,
    #[serde(borrow)]
    mpid: Option<&'a RawValue>,
    #[serde(borrow)]
    events: Option<Vec<SkimmedEvent<'a>>>,
    #[serde(borrow)]
    user_identities: Option<&'a RawValue>,
    #[serde(borrow)]
    device_info: Option<&'a RawValue>,
    #[serde(borrow)]
    mp_deviceid: Option<&'a RawValue>,
    #[serde(borrow)]
    user_attributes: Option<&'a RawValue>,
    #[serde(borrow)]
    deleted_user_attributes: Option<&'a RawValue>,
    #[serde(borrow)]
    consent_state: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct SkimmedEvent<'a> {
    #[serde(borrow)]
    event_type: Option<&'a RawValue>,
    #[serde(borrow)]
    data: Option<SkimmedData<'a>>,
}

#[derive(Deserialize)]
struct SkimmedData<'a> {
    #[serde(borrow)]
    event_name: Option<&'a RawValue>,
    #[serde(borrow)]
    is_opted_out: Option<&'a RawValue>,
    #[serde(borrow)]
    custom_attributes: Option<&'a RawValue>,
}

/// What the rules take from a batch's events.
struct EventFacts {
    count: i64,
    /// The choice of the last `opt_out` event, if any.
    opted_out: Option<bool>,
}

/// [`parse_events`]'s rules on skimmed events: their facts if they all hold.
fn skim_events(events: &[SkimmedEvent<'_>]) -> Option<EventFacts> {
    let string = |raw: &RawValue| serde_json::from_str::<Cow<'_, str>>(raw.get()).ok();
    let mut facts = EventFacts { count: events.len() as i64, opted_out: None };
    for event in events {
        let event_type = event.event_type.and_then(string).and_then(|t| EventType::parse(&t))?;
        let data = event.data.as_ref();
        if event_type.requires_name() && data.and_then(|d| d.event_name).and_then(string).is_none() {
            return None;
        }
        if event_type.carries_opt_out() {
            match data.and_then(|d| d.is_opted_out).map(RawValue::get) {
                Some("true") => facts.opted_out = Some(true),
                Some("false") => facts.opted_out = Some(false),
                _ => return None,
            }
        }
        // An object, or null (which `Option` takes as absent).
        if !data.and_then(|d| d.custom_attributes).is_none_or(|raw| raw.get().starts_with('{')) {
            return None;
        }
    }
    Some(facts)
}

/// The rules of a batch, on its fields; `events` reads the events.
fn parse_fields(
    batch: &Map<String, Value>,
    at: &str,
    events: impl FnOnce(&mut ParsedBatch, &mut Vec<String>),
) -> Result<ParsedBatch, Vec<String>> {
    let mut problems = Vec::new();
    let field = |name: &str| format!("{at}.{name}");

    let mut parsed = ParsedBatch {
        source_request_id: optional_string(batch, "source_request_id", &field, &mut problems),
        mpid: None,
        identities: Vec::new(),
        attributes: Vec::new(),
        deleted_attributes: Vec::new(),
        consent: Vec::new(),
        opted_out: None,
        event_count: 0,
    };
    if let Some(environment) = optional_string(batch, "environment", &field, &mut problems) {
        if Environment::parse(&environment).is_none() {
            problems.push(format!("{}: must be production or development", field("environment")));
        }
    }
    parsed.mpid = mpid_from_json(batch.get("mpid")).unwrap_or_else(|InvalidMpid| {
        problems.push(format!("{}: must be a 64-bit integer, as a number or a string", field("mpid")));
        None
    });
    events(&mut parsed, &mut problems);
    parse_identities(batch, &field, &mut parsed, &mut problems);
    parse_attributes(batch, &field, &mut parsed, &mut problems);
    parse_consent(batch.get("consent_state"), &field("consent_state"), &mut parsed, &mut problems);
    if problems.is_empty() {
        if let Err(unreachable) = check_reaches_profile(parsed.mpid, &parsed.identities) {
            problems.push(format!("{at}: {unreachable}"));
        }
    }

    if problems.is_empty() {
        Ok(parsed)
    } else {
        Err(problems)
    }
}

/// An MPID that is not a 64-bit integer; each API words its own message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidMpid;

/// An MPID as real clients send it: a JSON number, a numeric string, or null.
pub(crate) fn mpid_from_json(value: Option<&Value>) -> Result<Option<Mpid>, InvalidMpid> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(|m| Some(Mpid(m))).ok_or(InvalidMpid),
        Some(Value::String(s)) => s.trim().parse().map(|m| Some(Mpid(m))).map_err(|_| InvalidMpid),
        Some(_) => Err(InvalidMpid),
    }
}

fn optional_string(
    object: &Map<String, Value>,
    name: &str,
    field: &dyn Fn(&str) -> String,
    problems: &mut Vec<String>,
) -> Option<String> {
    match object.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            problems.push(format!("{}: must be a string", field(name)));
            None
        }
    }
}

fn parse_events(events: Option<&Value>, at: &str, parsed: &mut ParsedBatch, problems: &mut Vec<String>) {
    let events = match events {
        None | Some(Value::Null) => return,
        Some(Value::Array(events)) => events,
        Some(_) => return problems.push(format!("{at}: must be an array of events")),
    };
    parsed.event_count = events.len() as i64;
    for (index, event) in events.iter().enumerate() {
        let at = format!("{at}[{index}]");
        let Value::Object(event) = event else {
            problems.push(format!("{at}: must be an object with event_type and data"));
            continue;
        };
        let event_type = match event.get("event_type") {
            Some(Value::String(t)) => match EventType::parse(t) {
                Some(event_type) => event_type,
                None => {
                    problems.push(format!("{at}.event_type: unknown event type `{t}`"));
                    continue;
                }
            },
            _ => {
                problems.push(format!("{at}.event_type: is required and must be a string"));
                continue;
            }
        };
        let data = match event.get("data") {
            None | Some(Value::Null) => None,
            Some(Value::Object(data)) => Some(data),
            Some(_) => {
                problems.push(format!("{at}.data: must be an object"));
                continue;
            }
        };
        if event_type.requires_name() {
            match data.and_then(|d| d.get("event_name")) {
                Some(Value::String(_)) => {}
                _ => problems.push(format!("{at}.data.event_name: is required for a custom_event")),
            }
        }
        if event_type.carries_opt_out() {
            match data.and_then(|d| d.get("is_opted_out")) {
                Some(Value::Bool(opted_out)) => parsed.opted_out = Some(*opted_out),
                _ => problems.push(format!("{at}.data.is_opted_out: is required and must be a boolean")),
            }
        }
        if let Some(attributes) = data.and_then(|d| d.get("custom_attributes")) {
            if !matches!(attributes, Value::Object(_) | Value::Null) {
                problems.push(format!("{at}.data.custom_attributes: must be an object"));
            }
        }
    }
}

fn push_identity(parsed: &mut ParsedBatch, kind: IdentityType, value: &str) {
    let value = value.trim();
    if !value.is_empty() && !parsed.identities.iter().any(|i| i.kind == kind) {
        parsed.identities.push(Identity::new(kind, value));
    }
}

fn parse_identities(
    batch: &Map<String, Value>,
    field: &dyn Fn(&str) -> String,
    parsed: &mut ParsedBatch,
    problems: &mut Vec<String>,
) {
    match batch.get("user_identities") {
        None | Some(Value::Null) => {}
        Some(Value::Object(identities)) => {
            for (name, value) in identities {
                match (IdentityType::parse(name), value) {
                    (_, Value::Null) => {}
                    (Ok(kind), Value::String(value)) => push_identity(parsed, kind, value),
                    // An identity type this server does not know is passed over, as extra keys are.
                    (Err(_), Value::String(_)) => {}
                    (_, _) => problems.push(format!("{}: must be a string", field(&format!("user_identities.{name}")))),
                }
            }
        }
        Some(_) => problems.push(format!("{}: must be an object", field("user_identities"))),
    }
    match batch.get("device_info") {
        None | Some(Value::Null) => {}
        Some(Value::Object(device)) => {
            for DeviceInfoIdentity { key, kind } in DEVICE_INFO_IDENTITIES {
                match device.get(*key) {
                    None | Some(Value::Null) => {}
                    Some(Value::String(value)) => push_identity(parsed, *kind, value),
                    Some(_) => problems.push(format!("{}: must be a string", field(&format!("device_info.{key}")))),
                }
            }
        }
        Some(_) => problems.push(format!("{}: must be an object", field("device_info"))),
    }
    if let Some(stamp) = optional_string(batch, "mp_deviceid", field, problems) {
        push_identity(parsed, IdentityType::DeviceApplicationStamp, &stamp);
    }
}

fn parse_attributes(
    batch: &Map<String, Value>,
    field: &dyn Fn(&str) -> String,
    parsed: &mut ParsedBatch,
    problems: &mut Vec<String>,
) {
    match batch.get("user_attributes") {
        None | Some(Value::Null) => {}
        Some(Value::Object(attributes)) => {
            for (name, value) in attributes {
                let scalar =
                    |v: &Value| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null);
                let ok = match value {
                    Value::Array(items) => items.iter().all(scalar),
                    other => scalar(other),
                };
                if ok {
                    parsed.attributes.push((name.clone(), value.to_string()));
                } else {
                    problems.push(format!(
                        "{}: must be a string, number, boolean, null or a list of those",
                        field(&format!("user_attributes.{name}"))
                    ));
                }
            }
        }
        Some(_) => problems.push(format!("{}: must be an object", field("user_attributes"))),
    }
    match batch.get("deleted_user_attributes") {
        None | Some(Value::Null) => {}
        Some(Value::Array(names)) => {
            for (index, name) in names.iter().enumerate() {
                match name {
                    Value::String(name) => parsed.deleted_attributes.push(name.clone()),
                    _ => problems
                        .push(format!("{}: must be a string", field(&format!("deleted_user_attributes[{index}]")))),
                }
            }
        }
        Some(_) => problems.push(format!("{}: must be an array of attribute names", field("deleted_user_attributes"))),
    }
}

fn parse_consent(consent: Option<&Value>, at: &str, parsed: &mut ParsedBatch, problems: &mut Vec<String>) {
    let consent = match consent {
        None | Some(Value::Null) => return,
        Some(Value::Object(consent)) => consent,
        Some(_) => return problems.push(format!("{at}: must be an object")),
    };
    for regulation in CONSENT_REGULATIONS {
        let regulation_name = regulation.as_str();
        let purposes = match consent.get(regulation_name) {
            None | Some(Value::Null) => continue,
            Some(Value::Object(purposes)) => purposes,
            Some(_) => {
                problems.push(format!("{at}.{regulation_name}: must be an object of purposes"));
                continue;
            }
        };
        for (name, state) in purposes {
            let at = format!("{at}.{regulation_name}.{name}");
            let purpose = match consent_purpose(regulation, name) {
                Ok(purpose) => purpose,
                Err(unknown) => {
                    problems.push(format!("{at}: {unknown}"));
                    continue;
                }
            };
            let Value::Object(state) = state else {
                problems.push(format!("{at}: must be an object"));
                continue;
            };
            if !matches!(state.get("consented"), Some(Value::Bool(_))) {
                problems.push(format!("{at}.consented: is required and must be a boolean"));
                continue;
            }
            if let Some(ts) = state.get("timestamp_unixtime_ms") {
                if !(ts.is_i64() || ts.is_null()) {
                    problems.push(format!("{at}.timestamp_unixtime_ms: must be an integer"));
                    continue;
                }
            }
            parsed.consent.push(ConsentRecord {
                regulation: regulation_name.to_owned(),
                purpose,
                state_json: Value::Object(state.clone()).to_string(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn what_real_sdks_send_is_accepted() {
        // The Python SDK's shape: `customerid`, gdpr {}, numbers and lists as attributes.
        let batch = json!({
            "events": [{"data": {"event_name": "e", "custom_event_type": "navigation", "custom_attributes": {"i": "0"}},
                        "event_type": "custom_event"},
                       {"data": {"screen_name": "home"}, "event_type": "screen_view"}],
            "source_request_id": "r-1", "environment": "development",
            "user_attributes": {"plan": "gold", "age": 30, "vip": true, "tags": ["a", "b"], "gone": null},
            "user_identities": {"customerid": "c-1", "email": "a@x.com", "shoe_size": "44"},
            "consent_state": {"ccpa": {"data_sale_opt_out": {"document": "d", "consented": true,
                              "timestamp_unixtime_ms": 1, "location": "l", "hardware_id": "h"}}, "gdpr": {}},
            "mpid": "-42", "mp_deviceid": "stamp", "device_info": {"ios_advertising_id": "idfa", "platform": "web"},
            "integration_attributes": {}, "sdk_version": "2.68.0"
        });
        let parsed = parse_batch(&batch, "batch").unwrap();
        assert_eq!(parsed.event_count, 2);
        assert_eq!(parsed.mpid, Some(Mpid(-42)));
        assert_eq!(parsed.source_request_id.as_deref(), Some("r-1"));
        let kinds: Vec<IdentityType> = parsed.identities.iter().map(|i| i.kind).collect();
        assert_eq!(
            kinds,
            [
                IdentityType::CustomerId,
                IdentityType::Email,
                IdentityType::IosIdfa,
                IdentityType::DeviceApplicationStamp
            ]
        );
        assert_eq!(parsed.attributes.len(), 5);
        assert_eq!(parsed.consent.len(), 1);
        assert_eq!(parsed.consent[0].purpose, "data_sale_opt_out");
    }

    #[test]
    fn malformed_fields_are_named() {
        let batch = json!({
            "events": [{"event_type": "teleport"}, {"event_type": "custom_event", "data": {}},
                       {"event_type": "opt_out", "data": {"is_opted_out": "yes"}}, 7],
            "mpid": "abc", "user_identities": {"email": 5}, "user_attributes": {"nested": {"a": 1}},
            "consent_state": {"gdpr": {"location": {"consented": "yes"}}, "ccpa": {"other": {}}},
            "deleted_user_attributes": [1], "environment": "staging"
        });
        let problems = parse_batch(&batch, "batch").unwrap_err();
        for expected in [
            "batch.environment: must be production or development",
            "batch.mpid: must be a 64-bit integer",
            "batch.events[0].event_type: unknown event type `teleport`",
            "batch.events[1].data.event_name: is required",
            "batch.events[2].data.is_opted_out: is required and must be a boolean",
            "batch.events[3]: must be an object",
            "batch.user_identities.email: must be a string",
            "batch.user_attributes.nested: must be a string, number",
            "batch.deleted_user_attributes[0]: must be a string",
            "batch.consent_state.gdpr.location.consented: is required and must be a boolean",
            "batch.consent_state.ccpa.other: CCPA consent has only the purpose data_sale_opt_out",
        ] {
            assert!(problems.iter().any(|p| p.starts_with(expected)), "missing `{expected}` in {problems:#?}");
        }
        assert_eq!(parse_batch(&json!([]), "[0]").unwrap_err(), vec!["[0]: must be a JSON object"]);
        assert_eq!(
            parse_batch(&json!({"events": []}), "[1]").unwrap_err(),
            vec!["[1]: needs an mpid or at least one user or device identity to reach a profile"]
        );
    }

    /// Batches as SDKs send them, odd but valid ones, and malformed ones.
    fn corpus() -> Vec<(Value, bool)> {
        let event = |t: &str| json!({"event_type": t, "data": {"event_name": "e", "custom_attributes": {"k": "v"}}});
        vec![
            (
                json!({"events": [event("custom_event"), event("screen_view"),
                                  {"event_type": "commerce_event", "data": {"product_action": {"action": "purchase",
                                   "products": [{"id": "sku", "price": 29.99, "quantity": 2}]}}}],
                       "user_identities": {"email": "a@x.com"}}),
                true,
            ),
            (
                json!({"events": [{"event_type": "opt_out", "data": {"is_opted_out": false}},
                                  {"event_type": "opt_out", "data": {"is_opted_out": true}}],
                       "mpid": 7, "source_request_id": "r\"1", "environment": "unknown"}),
                true,
            ),
            (
                json!({"events": null, "mpid": " -42 ", "user_identities": {"customerid": "c", "customer_id": "d", "x": null},
                       "device_info": {"ios_idfv": "v", "android_uuid": null, "platform": 3}, "mp_deviceid": "s",
                       "user_attributes": {"a": [1, "b", true, null], "n": null, "f": 1.5},
                       "deleted_user_attributes": ["gone"], "consent_state": {"gdpr": {"Marketing": {"consented": true}}},
                       "unknown": {"nested": [1, 2]}}),
                true,
            ),
            (
                json!({"events": [{"event_type": "screen_view", "data": null}, {"event_type": "crash_report"}], "mpid": "5"}),
                true,
            ),
            (
                json!({"events": [{"event_type": "custom_event", "data": {"custom_attributes": null, "event_name": "é"}}], "mpid": 1}),
                true,
            ),
            (
                json!({"events": [{"event_type": "screen_view", "data": {"event_name": 5, "is_opted_out": "x"}}], "mpid": 1}),
                true,
            ),
            (json!({"events": [{"event_type": "teleport"}], "mpid": 1}), false),
            (json!({"events": [{"event_type": 5}], "mpid": 1}), false),
            (json!({"events": [{"event_type": "custom_event", "data": {}}], "mpid": 1}), false),
            (json!({"events": [{"event_type": "custom_event", "data": {"event_name": 1}}], "mpid": 1}), false),
            (json!({"events": [{"event_type": "opt_out", "data": {"is_opted_out": "yes"}}], "mpid": 1}), false),
            (json!({"events": [{"event_type": "screen_view", "data": {"custom_attributes": [1]}}], "mpid": 1}), false),
            (json!({"events": [{"event_type": "screen_view", "data": 4}], "mpid": 1}), false),
            (json!({"events": [7], "mpid": 1}), false),
            (json!({"events": {}, "mpid": 1}), false),
            (json!({"events": [], "mpid": 18_446_744_073_709_551_615u64}), false),
            (json!({"events": [], "mpid": 1.5}), false),
            (json!({"events": [], "user_identities": {"email": 5}}), false),
            (json!({"events": [], "user_attributes": {"nested": {"a": 1}}, "mpid": 1}), false),
            (json!({"events": [], "environment": "staging", "mpid": 1}), false),
            (json!({"events": []}), false),
            (json!([{"mpid": 1}]), false),
        ]
    }

    #[test]
    fn the_one_pass_read_agrees_with_the_long_way() {
        for (batch, valid) in corpus() {
            let text = batch.to_string();
            let fast = read_well_formed(&text);
            assert_eq!(fast.is_some(), valid, "{text}");
            assert_eq!(parse_batch(&batch, "batch").is_ok(), valid, "{text}");
            if let Some(fast) = fast {
                assert_eq!(Ok(fast), parse_batch(&batch, "batch"), "{text}");
            }
        }
        // Text the long way reads differently from `Value`'s own: duplicate
        // keys (the last wins), spaces, escapes.
        for text in [
            r#"{"mpid": 1, "mpid": 2, "events": []}"#,
            r#"{ "user_attributes" : { "a" : [ 1 , 2 ] } , "mpid" : "3" }"#,
            r#"{"events": [{"event_type": "opt_out", "data": {"is_opted_out": true, "is_opted_out": false}}], "mpid": 1}"#,
        ] {
            let long_way = parse_batch(&serde_json::from_str(text).unwrap(), "batch");
            if let Some(fast) = read_well_formed(text) {
                assert_eq!(Ok(fast), long_way, "{text}");
            }
        }
    }

    #[test]
    fn an_opt_out_event_sets_the_flag() {
        let batch = json!({"events": [{"event_type": "opt_out", "data": {"is_opted_out": true}}], "mpid": 5});
        assert_eq!(parse_batch(&batch, "batch").unwrap().opted_out, Some(true));
    }
}
