//! Event batches as SDKs send them, and as the Events API hands them to
//! the store (for the runs that call the store directly).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use custos_core::identity::{Identity, IdentityType, Mpid};
use custos_core::ids::WorkspaceId;
use custos_store::{BatchBody, ConsentRecord, IncomingBatch};
use rand::Rng;

use crate::settings::Settings;

pub(crate) const EVENTS_PER_BATCH: u64 = 10;
pub(crate) const BULK_BATCHES: usize = 100;

/// One batch as an SDK sends it: 10 events (custom events, screen views and
/// commerce events), the user's identities, attributes, device and consent.
pub(crate) fn write_batch(out: &mut String, run: u32, request_id: u64, user: u64, now_ms: i64) {
    let _ = write!(
        out,
        r#"{{"schema_version":2,"environment":"production","source_request_id":"r{run:08x}-{request_id}","timestamp_unixtime_ms":{now_ms},"user_identities":{{"customer_id":"cust-{user}","email":"user{user}@example.com"}},"user_attributes":{{"plan":"{plan}","age":{age},"city":"Lyon","vip":{vip},"tags":["beta","eu"]}},"device_info":{{"platform":"iOS","os_version":"17.4","device_model":"iPhone15,2","ios_idfv":"idfv-{user}"}},"consent_state":{{"gdpr":{{"marketing":{{"consented":true,"document":"v3","timestamp_unixtime_ms":{consented_ms},"location":"eu"}}}},"ccpa":{{"data_sale_opt_out":{{"consented":false,"timestamp_unixtime_ms":{consented_ms}}}}}}},"events":["#,
        plan = plan(user),
        age = age(user),
        vip = vip(user),
        consented_ms = consented_ms(user),
    );
    for index in 0..EVENTS_PER_BATCH {
        if index > 0 {
            out.push(',');
        }
        let t = now_ms + index as i64;
        let _ = match index {
            3 | 7 => write!(
                out,
                r#"{{"event_type":"screen_view","data":{{"screen_name":"product_detail","timestamp_unixtime_ms":{t}}}}}"#
            ),
            5 | 9 => write!(
                out,
                r#"{{"event_type":"commerce_event","data":{{"timestamp_unixtime_ms":{t},"currency_code":"EUR","product_action":{{"action":"{action}","transaction_id":"t{request_id}","total_amount":59.98,"products":[{{"id":"sku-{sku}","name":"Trail shoe","price":29.99,"quantity":2}}]}}}}}}"#,
                action = if index == 5 { "add_to_cart" } else { "purchase" },
                sku = (user + index) % 500,
            ),
            _ => write!(
                out,
                r#"{{"event_type":"custom_event","data":{{"event_name":"{name}","custom_event_type":"navigation","timestamp_unixtime_ms":{t},"custom_attributes":{{"category":"shoes","item":"sku-{sku}"}}}}}}"#,
                name = ["view_item", "add_to_wishlist", "search", "share"][(index % 4) as usize],
                sku = (user * 31 + index) % 500,
            ),
        };
    }
    out.push_str("]}");
}

/// A user's attributes, the same in each of their batches.
pub(crate) fn plan(user: u64) -> &'static str {
    ["free", "gold", "pro"][(user % 3) as usize]
}

pub(crate) fn age(user: u64) -> u64 {
    18 + user % 60
}

pub(crate) fn vip(user: u64) -> bool {
    user.is_multiple_of(7)
}

/// When `user` gave consent. SDKs keep the consent state with the time it
/// was given and send it unchanged in every batch.
pub(crate) fn consented_ms(user: u64) -> i64 {
    1_700_000_000_000 + user as i64 * 1_000
}

pub(crate) fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Draws users and numbers batches for one run.
pub(crate) struct BatchMaker {
    run: u32,
    /// Returning users are `0..users`; new ones are numbered from `users` on.
    users: u64,
    new_users: f64,
    next_new_user: AtomicU64,
    next_request_id: AtomicU64,
}

impl BatchMaker {
    pub(crate) fn new(run: u32, settings: &Settings) -> BatchMaker {
        BatchMaker {
            run,
            users: settings.users,
            new_users: settings.new_users,
            next_new_user: AtomicU64::new(settings.users),
            next_request_id: AtomicU64::new(0),
        }
    }

    pub(crate) fn user(&self) -> u64 {
        let mut rng = rand::thread_rng();
        if rng.gen_bool(self.new_users) {
            self.next_new_user.fetch_add(1, Ordering::Relaxed)
        } else {
            rng.gen_range(0..self.users)
        }
    }

    pub(crate) fn batch(&self) -> String {
        let mut out = String::with_capacity(2_600);
        self.append(&mut out);
        out
    }

    pub(crate) fn append(&self, out: &mut String) {
        let request_id = self.next_request_id.fetch_add(1, Ordering::Relaxed);
        write_batch(out, self.run, request_id, self.user(), now_ms());
    }

    pub(crate) fn bulk(&self) -> String {
        let mut out = String::with_capacity(BULK_BATCHES * 2_600);
        out.push('[');
        for index in 0..BULK_BATCHES {
            if index > 0 {
                out.push(',');
            }
            self.append(&mut out);
        }
        out.push(']');
        out
    }
}

/// An event batch as the server hands it to the store, for the store-only
/// run: what the Events API makes of [`write_batch`]'s.
pub(crate) fn direct_batch(workspace_id: WorkspaceId, input_id: i64, run: u32, user: u64, n: u64) -> IncomingBatch {
    let now = now_ms();
    let mut body = String::with_capacity(2_600);
    write_batch(&mut body, run, n, user, now);
    // As the Events API stores consent: the state's keys in order.
    let consent = |regulation: &str, purpose: &str, state_json: String| ConsentRecord {
        regulation: regulation.to_owned(),
        purpose: purpose.to_owned(),
        state_json,
    };
    let consented = consented_ms(user);
    IncomingBatch {
        workspace_id,
        input_id,
        source_request_id: Some(format!("d{run:08x}-{n}")),
        mpid: None,
        new_mpid: Mpid(rand::random()),
        identities: vec![
            Identity::new(IdentityType::CustomerId, format!("cust-{user}")),
            Identity::new(IdentityType::Email, format!("user{user}@example.com")),
            Identity::new(IdentityType::IosIdfv, format!("idfv-{user}")),
        ],
        attributes: vec![
            ("age".into(), age(user).to_string()),
            ("city".into(), "\"Lyon\"".into()),
            ("plan".into(), format!("\"{}\"", plan(user))),
            ("tags".into(), r#"["beta","eu"]"#.into()),
            ("vip".into(), vip(user).to_string()),
        ],
        deleted_attributes: vec![],
        consent: vec![
            consent(
                "gdpr",
                "marketing",
                format!(r#"{{"consented":true,"document":"v3","location":"eu","timestamp_unixtime_ms":{consented}}}"#),
            ),
            consent(
                "ccpa",
                "data_sale_opt_out",
                format!(r#"{{"consented":false,"timestamp_unixtime_ms":{consented}}}"#),
            ),
        ],
        opted_out: None,
        event_count: EVENTS_PER_BATCH as i64,
        body: BatchBody::compress(&body),
        received_at_ms: now,
        suppression_keys: Vec::new(),
    }
}
