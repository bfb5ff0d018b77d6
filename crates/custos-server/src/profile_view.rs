//! A profile in mParticle's JSON shape: what the Profile API answers and
//! what an access export's `profile.jsonl` holds.

use custos_core::identity::IdentityType;
use custos_store::Profile;
use serde_json::{json, Map, Value};

/// The fields a Profile API request may ask for.
pub(crate) const FIELDS: [&str; 5] =
    ["device_identities", "user_identities", "user_attributes", "audience_memberships", "attribution"];

/// The consent state, which every answer holds.
pub(crate) const CONSENT_FIELD: &str = "consent_state";

/// The Profile API's names of device identity types, where they differ.
fn profile_api_name(kind: IdentityType) -> &'static str {
    match kind {
        IdentityType::AndroidUuid => "android_id",
        IdentityType::AndroidAaid => "google_advertising_id",
        IdentityType::IosIdfa => "ios_advertising_id",
        IdentityType::IosIdfv => "ios_vendor_id",
        other => other.as_str(),
    }
}

/// The profile with the given fields (of [`FIELDS`]) and its consent state.
pub(crate) fn render(profile: &Profile, fields: &[&str]) -> Value {
    let mut body = json!({
        "mpid": profile.mpid.0,
        "created_timestamp_ms": profile.created_at_ms,
        "last_stored_timestamp_ms": profile.updated_at_ms,
        "is_opted_out": profile.opted_out,
        "limit_ad_tracking": null,
        "account_userattributes": null,
    });
    let identities = |device: bool| -> Vec<Value> {
        profile
            .identities
            .iter()
            .filter(|stored| stored.identity.kind.is_device() == device)
            .map(|stored| {
                json!({
                    "type": if device { profile_api_name(stored.identity.kind) } else { stored.identity.kind.as_str() },
                    "encoding": "none",
                    "value": stored.identity.value,
                    "created_timestamp_ms": stored.created_at_ms,
                })
            })
            .collect()
    };
    for field in fields {
        let value = match *field {
            "device_identities" => Value::Array(identities(true)),
            "user_identities" => Value::Array(identities(false)),
            "user_attributes" => Value::Object(
                profile
                    .attributes
                    .iter()
                    .map(|(name, value)| (name.clone(), serde_json::from_str(value).unwrap_or(Value::Null)))
                    .collect(),
            ),
            _ => Value::Array(vec![]),
        };
        body[*field] = value;
    }
    let mut consent = json!({ "gdpr": {}, "ccpa": {} });
    for record in &profile.consent {
        let state: Value = serde_json::from_str(&record.state_json).unwrap_or(Value::Object(Map::new()));
        consent[record.regulation.as_str()][record.purpose.as_str()] = state;
    }
    body[CONSENT_FIELD] = consent;
    body
}
