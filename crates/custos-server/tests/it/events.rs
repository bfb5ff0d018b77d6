//! The Events API v2 and the Web SDK's upload path.

use std::time::Duration;

use custos_server::ServeConfig;
use serde_json::{json, Value};

use crate::helpers::{apps, default_apps, messages, read, TestApp};

fn batch(customer_id: &str) -> Value {
    json!({
        "events": [
            {"event_type": "custom_event", "data": {"event_name": "played", "custom_event_type": "navigation",
             "custom_attributes": {"level": 3}, "timestamp_unixtime_ms": 1_700_000_000_000i64}},
            {"event_type": "screen_view", "data": {"screen_name": "home"}},
            {"event_type": "commerce_event", "data": {"product_action": {"action": "purchase", "products": []}}}
        ],
        "environment": "production",
        "user_identities": {"customer_id": customer_id, "email": format!("{customer_id}@example.com")},
        "user_attributes": {"plan": "gold", "age": 30, "tags": ["a", "b"]},
        "device_info": {"ios_advertising_id": format!("idfa-{customer_id}"), "platform": "iOS"},
        "application_info": {"application_name": "test"},
        "consent_state": {
            "gdpr": {"location_collection": {"consented": true, "document": "v1", "timestamp_unixtime_ms": 1}},
            "ccpa": {"data_sale_opt_out": {"consented": true, "document": "ccpa-v1", "timestamp_unixtime_ms": 2}}
        }
    })
}

impl TestApp {
    pub(crate) async fn post_events(&self, path: &str, body: &Value) -> (u16, Value) {
        let server = &self.org.server_input;
        let response = self
            .http
            .post(self.url(path))
            .basic_auth(&server.key, Some(&server.secret))
            .json(body)
            .send()
            .await
            .unwrap();
        read(response).await
    }

    /// The MPID of the profile holding this customer ID, through the Identity API.
    pub(crate) async fn mpid_of(&self, customer_id: &str) -> Option<String> {
        let response = self
            .http
            .post(self.url("/v1/search"))
            .basic_auth(&self.org.server_input.key, Some(&self.org.server_input.secret))
            .json(&json!({"known_identities": {"customerid": customer_id}, "environment": "production"}))
            .send()
            .await
            .unwrap();
        let (status, body) = read(response).await;
        (status == 200).then(|| body["mpid"].as_str().unwrap().to_owned())
    }
}

#[tokio::test]
async fn a_batch_is_accepted_with_202_and_lands_on_its_profile() {
    for app in default_apps().await {
        let (status, _) = app.post_events("/v2/events", &batch("c-1")).await;
        assert_eq!(status, 202, "{}", app.backend);
        let mpid = app.mpid_of("c-1").await.expect("the batch created a profile");
        let profile = app
            .store
            .profile(app.org.ids.workspace_id, custos_core::identity::Mpid(mpid.parse().unwrap()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(profile.identities.len(), 3, "customer id, email, idfa");
        assert_eq!(profile.attributes.len(), 3);
        assert_eq!(profile.consent.len(), 2);
        let stats = app.store.stats().await.unwrap();
        assert_eq!((stats.totals.batches, stats.totals.events), (1, 3));
    }
}

#[tokio::test]
async fn bulk_uploads_take_up_to_one_hundred_batches() {
    for app in default_apps().await {
        let batches: Vec<Value> = (0..100).map(|i| batch(&format!("bulk-{i}"))).collect();
        assert_eq!(app.post_events("/v2/bulkevents", &Value::Array(batches)).await.0, 202);
        let stats = app.store.stats().await.unwrap();
        assert_eq!((stats.totals.batches, stats.totals.events, stats.totals.profiles), (100, 300, 100));

        let too_many: Vec<Value> = (0..101).map(|i| batch(&format!("more-{i}"))).collect();
        let (status, body) = app.post_events("/v2/bulkevents", &Value::Array(too_many)).await;
        assert_eq!(status, 400);
        assert!(messages(&body).contains("at most 100 batches"));
        assert_eq!(app.store.stats().await.unwrap().totals.batches, 100, "nothing of a rejected request is stored");
    }
}

#[tokio::test]
async fn a_missing_header_is_401_and_wrong_credentials_are_403() {
    for app in default_apps().await {
        let response = app.http.post(app.url("/v2/events")).json(&batch("x")).send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert!(response.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
        for (key, secret) in [
            (app.org.server_input.key.as_str(), "wrong"),
            ("unknown-key", app.org.server_input.secret.as_str()),
            (app.org.workspace.key.as_str(), app.org.workspace.secret.as_str()),
        ] {
            let response = app
                .http
                .post(app.url("/v2/events"))
                .basic_auth(key, Some(secret))
                .json(&batch("x"))
                .send()
                .await
                .unwrap();
            let (status, body) = read(response).await;
            assert_eq!(status, 403);
            assert_eq!(body["errors"][0]["code"], "FORBIDDEN");
        }
        // The web input's key and secret are an input's too.
        let web = &app.org.web_input;
        let response = app
            .http
            .post(app.url("/v2/events"))
            .basic_auth(&web.key, Some(&web.secret))
            .json(&batch("w"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        assert_eq!(app.store.stats().await.unwrap().totals.batches, 1);
    }
}

#[tokio::test]
async fn malformed_batches_are_400_naming_the_field_and_store_nothing() {
    for app in default_apps().await {
        let mut bad_mpid = batch("c");
        bad_mpid["mpid"] = json!("not-a-number");
        let mut bad_event = batch("c");
        bad_event["events"][1]["event_type"] = json!("teleport");
        let mut bad_consent = batch("c");
        bad_consent["consent_state"]["ccpa"]["data_sale_opt_out"]["consented"] = json!("yes");
        let cases = [
            (bad_mpid, "batch.mpid: must be a 64-bit integer"),
            (bad_event, "batch.events[1].event_type: unknown event type `teleport`"),
            (bad_consent, "batch.consent_state.ccpa.data_sale_opt_out.consented"),
            (json!([1, 2]), "batch: must be a JSON object"),
        ];
        for (body, expected) in cases {
            let (status, answer) = app.post_events("/v2/events", &body).await;
            assert_eq!(status, 400, "{expected}");
            assert_eq!(answer["errors"][0]["code"], "VALIDATION_ERROR");
            assert!(messages(&answer).contains(expected), "expected `{expected}` in {answer}");
        }
        let mut second_bad = batch("d");
        second_bad["user_attributes"] = json!({"nested": {"no": 1}});
        let (status, answer) = app.post_events("/v2/bulkevents", &json!([batch("ok"), second_bad])).await;
        assert_eq!(status, 400);
        assert!(messages(&answer).contains("[1].user_attributes.nested"), "{answer}");

        let response = app
            .http
            .post(app.url("/v2/events"))
            .basic_auth(&app.org.server_input.key, Some(&app.org.server_input.secret))
            .body("{\"events\": [")
            .send()
            .await
            .unwrap();
        assert_eq!(read(response).await.0, 400);
        assert_eq!(app.store.stats().await.unwrap().totals.batches, 0);
    }
}

#[tokio::test]
async fn mparticles_size_limits_hold() {
    for app in default_apps().await {
        let mut big = batch("big");
        big["user_attributes"]["blob"] = json!("x".repeat(130 * 1024));
        let (status, body) = app.post_events("/v2/events", &big).await;
        assert_eq!(status, 400);
        assert!(messages(&body).contains("at most 131072 bytes"), "{body}");

        let mut huge = batch("huge");
        huge["user_attributes"]["blob"] = json!("x".repeat(300 * 1024));
        let (status, _) = app.post_events("/v2/bulkevents", &json!([huge])).await;
        assert_eq!(status, 413);
        assert_eq!(app.store.stats().await.unwrap().totals.batches, 0);
        // The body is read before the credentials are looked at: 413 whatever they are.
        let wrong = app.http.post(app.url("/v2/bulkevents")).basic_auth(&app.org.server_input.key, Some("wrong"));
        assert_eq!(wrong.json(&json!([huge])).send().await.unwrap().status(), 413);
        let missing = app.http.post(app.url("/v2/bulkevents")).json(&json!([huge]));
        assert_eq!(missing.send().await.unwrap().status(), 413);
    }
}

#[tokio::test]
async fn a_repeated_source_request_id_is_accepted_but_stored_once() {
    for app in default_apps().await {
        let mut once = batch("dup");
        once["source_request_id"] = json!("req-1");
        assert_eq!(app.post_events("/v2/events", &once).await.0, 202);
        assert_eq!(app.post_events("/v2/events", &once).await.0, 202);
        assert_eq!(app.post_events("/v2/bulkevents", &json!([once, once])).await.0, 202);
        assert_eq!(app.store.stats().await.unwrap().totals.batches, 1, "{}", app.backend);
    }
}

#[tokio::test]
async fn the_workspace_rate_limit_answers_429_with_retry_after() {
    let config = ServeConfig { events_batches_per_second: 5, ..ServeConfig::mparticle_defaults() };
    for app in apps(config).await {
        let batches: Vec<Value> = (0..5).map(|i| batch(&format!("r-{i}"))).collect();
        assert_eq!(app.post_events("/v2/bulkevents", &Value::Array(batches)).await.0, 202);
        let server = &app.org.server_input;
        let response = app
            .http
            .post(app.url("/v2/events"))
            .basic_auth(&server.key, Some(&server.secret))
            .json(&batch("over"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["x-mp-rate-limit-exceeded"], "workspace");
        let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(retry_after >= 1);
        assert_eq!(app.store.stats().await.unwrap().totals.batches, 5);
        tokio::time::sleep(Duration::from_secs(retry_after)).await;
        assert_eq!(app.post_events("/v2/events", &batch("later")).await.0, 202);
    }
}

#[tokio::test]
async fn the_web_sdk_upload_path_takes_text_plain_batches_by_web_key() {
    for app in default_apps().await {
        let body = json!({
            "source_request_id": "web-1", "mpid": null, "environment": "development",
            "events": [{"event_type": "custom_event", "data": {"event_name": "clicked", "custom_event_type": "other",
                        "custom_flags": {}, "location": null, "custom_attributes": {"n": 1}}}],
            "mp_deviceid": "stamp-1", "sdk_version": "2.68.0", "application_info": {},
            "device_info": {"platform": "web", "screen_width": 1280}, "integration_attributes": {},
            "user_identities": {"customer_id": "web-c", "email": "web@example.com"}, "consent_state": null
        });
        let url = app.url(&format!("/v3/JS/{}/events", app.org.web_input.key));
        let response = app
            .http
            .post(&url)
            .header("content-type", "text/plain;charset=UTF-8")
            .header("origin", "http://127.0.0.1:9")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
        assert!(app.mpid_of("web-c").await.is_some());

        let server_key_url = app.url(&format!("/v3/JS/{}/events", app.org.server_input.key));
        let response = app.http.post(server_key_url).body(body.to_string()).send().await.unwrap();
        assert_eq!(response.status(), 403, "only web inputs upload by key alone");
    }
}

#[tokio::test]
async fn identity_preflights_are_answered_for_any_origin() {
    for app in default_apps().await {
        let response = app
            .http
            .request(reqwest::Method::OPTIONS, app.url("/v1/identify"))
            .header("origin", "http://127.0.0.1:46001")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,x-mp-key")
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        let allowed = response.headers()["access-control-allow-headers"].to_str().unwrap().to_lowercase();
        assert!(allowed.contains("x-mp-key") || allowed == "*", "{allowed}");
        assert!(response.headers().get("access-control-allow-origin").is_some());
    }
}
