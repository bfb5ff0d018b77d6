//! The Identity API v1.

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::helpers::{default_apps, read, TestApp};

enum Auth<'a> {
    Basic(&'a str, &'a str),
    KeyOnly(&'a str),
    Signed { key: &'a str, secret: &'a str },
    None,
}

impl TestApp {
    async fn identity(&self, path: &str, auth: Auth<'_>, body: &Value) -> (u16, Value) {
        let text = body.to_string();
        let mut request = self.http.post(self.url(path)).header("content-type", "application/json");
        request = match auth {
            Auth::Basic(key, secret) => request.basic_auth(key, Some(secret)),
            Auth::KeyOnly(key) => request.header("x-mp-key", key),
            Auth::Signed { key, secret } => {
                let date = "Tue, 01 Jul 2025 12:00:00 GMT";
                let signed_path = path.split('?').next().unwrap();
                let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
                mac.update(format!("POST\n{date}\n{signed_path}{text}").as_bytes());
                let signature = hex::encode(mac.finalize().into_bytes());
                request.header("x-mp-key", key).header("date", date).header("x-mp-signature", signature)
            }
            Auth::None => request,
        };
        read(request.body(text).send().await.unwrap()).await
    }

    async fn web(&self, path: &str, body: &Value) -> (u16, Value) {
        self.identity(path, Auth::KeyOnly(&self.org.web_input.key), body).await
    }
}

fn known(identities: Value) -> Value {
    json!({
        "client_sdk": {"platform": "web", "sdk_vendor": "mparticle", "sdk_version": "2.68.0"},
        "context": null, "environment": "development", "request_id": "r", "request_timestamp_ms": 1,
        "previous_mpid": null, "known_identities": identities
    })
}

#[tokio::test]
async fn the_default_strategy_runs_end_to_end_as_the_web_sdk_drives_it() {
    for app in default_apps().await {
        // Identify an anonymous visitor by device stamp.
        let (status, anonymous) = app.web("/v1/identify", &known(json!({"device_application_stamp": "das-1"}))).await;
        assert_eq!(status, 200, "{anonymous}");
        let anonymous_mpid = anonymous["mpid"].as_str().unwrap().to_owned();
        assert!(anonymous_mpid.parse::<i64>().is_ok());
        assert_eq!(anonymous["is_logged_in"], false);
        assert_eq!(anonymous["is_ephemeral"], false);

        // Login with a new customer ID keeps the MPID.
        let mut login =
            known(json!({"customerid": "cust-1", "email": "c1@example.com", "device_application_stamp": "das-1"}));
        login["previous_mpid"] = json!(anonymous_mpid);
        let (status, logged_in) = app.web("/v1/login", &login).await;
        assert_eq!(status, 200);
        assert_eq!(logged_in["mpid"], anonymous_mpid);
        assert_eq!(logged_in["is_logged_in"], true);
        assert_eq!(logged_in["matched_identities"], json!({"device_application_stamp": "das-1"}));

        // Modify: change the email, add `other`; unchanged identities are sent too.
        let modify = json!({"identity_changes": [
            {"identity_type": "customerid", "old_value": "cust-1", "new_value": "cust-1"},
            {"identity_type": "email", "old_value": "c1@example.com", "new_value": "new@example.com"},
            {"identity_type": "other", "old_value": null, "new_value": "other-1"}
        ]});
        let (status, modified) = app.web(&format!("/v1/{anonymous_mpid}/modify"), &modify).await;
        assert_eq!(status, 200, "{modified}");
        assert_eq!(modified["change_results"].as_array().unwrap().len(), 2);
        assert_eq!(modified["change_results"][0]["modified_mpid"], anonymous_mpid);

        // Search never creates; it finds by email despite the customer ID, not by device.
        let (status, found) = app.web("/v1/search?cb=1", &known(json!({"email": "new@example.com"}))).await;
        assert_eq!(status, 200);
        assert_eq!(found["mpid"], anonymous_mpid);
        let (status, missing) = app.web("/v1/search?cb=1", &known(json!({"email": "c1@example.com"}))).await;
        assert_eq!(status, 404);
        assert_eq!(missing["Errors"][0]["code"], "NOT_FOUND_ERROR");
        assert_eq!(missing["errors"][0]["code"], "NOT_FOUND_ERROR");

        // Logout yields a new anonymous MPID, carrying the device.
        let mut logout = known(json!({"device_application_stamp": "das-1"}));
        logout["previous_mpid"] = json!(anonymous_mpid);
        let (status, logged_out) = app.web("/v1/logout", &logout).await;
        assert_eq!(status, 200);
        assert_ne!(logged_out["mpid"], anonymous_mpid);
        assert_eq!(logged_out["is_logged_in"], false);
        let (_, device_only) = app.web("/v1/identify", &known(json!({"device_application_stamp": "das-1"}))).await;
        assert_eq!(device_only["mpid"], logged_out["mpid"], "the device no longer reaches the known profile");

        // Logging back in finds the known profile again.
        let (_, again) =
            app.web("/v1/login", &known(json!({"customerid": "cust-1", "device_application_stamp": "das-1"}))).await;
        assert_eq!(again["mpid"], anonymous_mpid);
        assert_eq!(app.store.stats().await.unwrap().totals.profiles, 2, "{}", app.backend);
    }
}

#[tokio::test]
async fn basic_hmac_and_key_only_auth_are_accepted_where_they_apply() {
    for app in default_apps().await {
        let body = known(json!({"email": "auth@example.com"}));
        let server = &app.org.server_input;
        let web = &app.org.web_input;
        assert_eq!(app.identity("/v1/identify", Auth::Basic(&server.key, &server.secret), &body).await.0, 200);
        assert_eq!(
            app.identity("/v1/identify", Auth::Signed { key: &server.key, secret: &server.secret }, &body).await.0,
            200
        );
        assert_eq!(
            app.identity("/v1/identify", Auth::Signed { key: &web.key, secret: &web.secret }, &body).await.0,
            200
        );
        assert_eq!(app.identity("/v1/identify", Auth::KeyOnly(&web.key), &body).await.0, 200);

        // Refused: a server key alone, a wrong signature (even with a web key), wrong Basic, nothing.
        let (status, refused) = app.identity("/v1/identify", Auth::KeyOnly(&server.key), &body).await;
        assert_eq!(status, 401);
        assert_eq!(refused["Errors"][0]["code"], "UNAUTHORIZED");
        assert_eq!(app.identity("/v1/identify", Auth::Signed { key: &web.key, secret: "wrong" }, &body).await.0, 401);
        assert_eq!(
            app.identity("/v1/identify", Auth::Signed { key: &server.key, secret: "wrong" }, &body).await.0,
            401
        );
        assert_eq!(app.identity("/v1/identify", Auth::Basic(&server.key, "wrong"), &body).await.0, 401);
        assert_eq!(app.identity("/v1/identify", Auth::KeyOnly("no-such-key"), &body).await.0, 401);
        assert_eq!(app.identity("/v1/identify", Auth::None, &body).await.0, 401);
    }
}

#[tokio::test]
async fn malformed_identity_requests_are_400_in_the_sdk_error_shape() {
    for app in default_apps().await {
        let cases = [
            (known(json!({})), "LOOKUP_ERROR", "at least one identity"),
            (json!({"environment": "production"}), "VALIDATION_ERROR", "known_identities: is required"),
            (known(json!({"email": 5})), "VALIDATION_ERROR", "known_identities.email: must be a string"),
            (known(json!({"shoe_size": "44"})), "VALIDATION_ERROR", "unknown identity type `shoe_size`"),
        ];
        for (body, code, message) in cases {
            let (status, answer) = app.web("/v1/identify", &body).await;
            assert_eq!(status, 400, "{body}");
            assert_eq!(answer["Errors"][0]["code"], code);
            assert!(answer["errors"][0]["message"].as_str().unwrap().contains(message), "{answer}");
            assert_eq!(answer["StatusCode"], 400);
        }
        let (status, _) = app.web("/v1/abc/modify", &json!({"identity_changes": []})).await;
        assert_eq!(status, 400);
        let (status, _) = app.web("/v1/12345/modify", &json!({"identity_changes": []})).await;
        assert_eq!(status, 404, "modify never creates a profile");
        assert_eq!(app.store.stats().await.unwrap().totals.profiles, 0);
    }
}

#[tokio::test]
async fn a_unique_identity_moves_to_the_profile_that_modify_gives_it() {
    for app in default_apps().await {
        let (_, first) = app.web("/v1/identify", &known(json!({"customerid": "a"}))).await;
        let (_, second) = app.web("/v1/identify", &known(json!({"customerid": "b", "other": "shared"}))).await;
        let first = first["mpid"].as_str().unwrap();
        let modify =
            json!({"identity_changes": [{"identity_type": "other", "old_value": null, "new_value": "shared"}]});
        assert_eq!(app.web(&format!("/v1/{first}/modify"), &modify).await.0, 200);
        let (_, found) = app.web("/v1/search", &known(json!({"other": "shared"}))).await;
        assert_eq!(found["mpid"], first);
        assert_ne!(second["mpid"], first);
    }
}
