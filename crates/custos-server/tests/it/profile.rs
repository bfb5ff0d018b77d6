//! The Profile API.

use custos_core::scope::Scope;
use custos_server::provision;
use custos_server::sealing::MasterKey;
use serde_json::json;

use crate::helpers::{default_apps, TestApp};

impl TestApp {
    fn profile_url(&self, mpid: &str, fields: &str) -> String {
        let ids = &self.org.ids;
        self.url(&format!(
            "/userprofile/v1/{}/{}/{}/{mpid}?fields={fields}",
            ids.org_id, ids.account_id, ids.workspace_id
        ))
    }
}

#[tokio::test]
async fn a_profile_reads_back_identities_attributes_opt_out_and_consent() {
    for app in default_apps().await {
        let batch = json!({
            "events": [{"event_type": "opt_out", "data": {"is_opted_out": true}}],
            "user_identities": {"customerid": "p-1", "email": "p1@example.com"},
            "device_info": {"android_uuid": "droid-1", "android_advertising_id": "gaid-1"},
            "user_attributes": {"plan": "gold", "age": 30, "tags": ["a", "b"], "stale": "x"},
            "consent_state": {"ccpa": {"data_sale_opt_out": {"consented": true, "document": "ccpa-v1",
                              "timestamp_unixtime_ms": 10, "location": "web", "hardware_id": "hw"}}, "gdpr": {}}
        });
        assert_eq!(app.post_events("/v2/events", &batch).await.0, 202);
        let forget = json!({"user_identities": {"customerid": "p-1"}, "deleted_user_attributes": ["stale"]});
        assert_eq!(app.post_events("/v2/events", &forget).await.0, 202);
        let mpid = app.mpid_of("p-1").await.unwrap();

        let token = app.token().await;
        let (status, profile) =
            app.get(&app.profile_url(&mpid, "user_identities,device_identities,user_attributes"), &token).await;
        assert_eq!(status, 200, "{profile}");
        assert_eq!(profile["mpid"].as_i64().unwrap().to_string(), mpid);
        assert_eq!(profile["is_opted_out"], true);
        let user_types: Vec<&str> =
            profile["user_identities"].as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap()).collect();
        assert!(user_types.contains(&"customer_id") && user_types.contains(&"email"), "{user_types:?}");
        let device: Vec<(&str, &str)> = profile["device_identities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i["type"].as_str().unwrap(), i["value"].as_str().unwrap()))
            .collect();
        assert!(device.contains(&("android_id", "droid-1")) && device.contains(&("google_advertising_id", "gaid-1")));
        assert_eq!(profile["user_attributes"], json!({"age": 30, "plan": "gold", "tags": ["a", "b"]}));
        assert_eq!(profile["consent_state"]["ccpa"]["data_sale_opt_out"]["consented"], true);
        assert_eq!(profile["consent_state"]["ccpa"]["data_sale_opt_out"]["document"], "ccpa-v1");
        assert!(profile["created_timestamp_ms"].as_i64().unwrap() > 0);

        // Only the fields asked for.
        let (_, narrow) = app.get(&app.profile_url(&mpid, "user_attributes"), &token).await;
        assert!(narrow.get("user_identities").is_none());
        let (status, _) = app.get(&app.profile_url(&mpid, "shoe_size"), &token).await;
        assert_eq!(status, 400);
        let (status, consent_only) = app.get(&app.profile_url(&mpid, "consent_state"), &token).await;
        assert_eq!(status, 200);
        assert_eq!(consent_only["consent_state"]["ccpa"]["data_sale_opt_out"]["consented"], true);
        assert!(consent_only.get("user_attributes").is_none());
    }
}

#[tokio::test]
async fn the_profile_api_needs_the_profile_scope_and_stays_inside_the_tenant() {
    for app in default_apps().await {
        assert_eq!(app.post_events("/v2/events", &json!({"user_identities": {"customerid": "t-1"}})).await.0, 202);
        let mpid = app.mpid_of("t-1").await.unwrap();
        let roles_only =
            provision::create_api_credential(&*app.store, app.org.ids.org_id, "roles", vec![Scope::CustomRoles])
                .await
                .unwrap();
        let token = app.token_of(&roles_only.key, &roles_only.secret).await;
        assert_eq!(app.get(&app.profile_url(&mpid, "user_identities"), &token).await.0, 403);

        let other = provision::create_organization(&*app.store, &MasterKey::generate(), "Other").await.unwrap();
        let other_token = app.token_of(&other.api_client.key, &other.api_client.secret).await;
        assert_eq!(app.get(&app.profile_url(&mpid, "user_identities"), &other_token).await.0, 404);
        // Its own path, but this tenant's workspace: still nothing.
        let crossing = app.url(&format!(
            "/userprofile/v1/{}/{}/{}/{mpid}?fields=user_identities",
            other.ids.org_id, other.ids.account_id, app.org.ids.workspace_id
        ));
        assert_eq!(app.get(&crossing, &other_token).await.0, 404);
        assert_eq!(app.get(&app.profile_url("123", "user_identities"), &app.token().await).await.0, 404);
    }
}
