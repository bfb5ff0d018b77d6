//! `POST /oauth/token` and bearer tokens.

use std::time::Duration;

use custos_core::scope::Scope;
use custos_server::provision;
use custos_server::ServeConfig;
use serde_json::{json, Value};

use crate::helpers::{apps, default_apps, read};

#[tokio::test]
async fn client_credentials_yield_an_eight_hour_bearer_token_that_opens_the_api() {
    for app in default_apps().await {
        let response = app.request_token(&app.org.api_client.key, &app.org.api_client.secret).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["expires_in"], 28800);
        assert_eq!(body["token_type"], "Bearer");
        let token = body["access_token"].as_str().unwrap();
        assert!(token.len() >= 40);
        let (status, _) = app.get(&app.platform("/roles"), token).await;
        assert_eq!(status, 200, "{}", app.backend);
    }
}

#[tokio::test]
async fn form_encoded_and_basic_authenticated_token_requests_are_accepted() {
    for app in default_apps().await {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", app.org.api_client.key.as_str()),
            ("client_secret", app.org.api_client.secret.as_str()),
            ("audience", "https://api.mparticle.com"),
        ];
        let response = app.http.post(app.url("/oauth/token")).form(&form).send().await.unwrap();
        assert_eq!(response.status(), 200);

        let response = app
            .http
            .post(app.url("/oauth/token"))
            .basic_auth(&app.org.api_client.key, Some(&app.org.api_client.secret))
            .form(&[("grant_type", "client_credentials"), ("audience", "https://api.mparticle.com")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", app.backend);
    }
}

#[tokio::test]
async fn wrong_or_unknown_credentials_are_401() {
    for app in default_apps().await {
        for (client_id, secret) in [
            (app.org.api_client.key.as_str(), "not-the-secret"),
            ("unknown-client", app.org.api_client.secret.as_str()),
            (app.org.web_input.key.as_str(), app.org.web_input.secret.as_str()),
        ] {
            let (status, body) = read(app.request_token(client_id, secret).await).await;
            assert_eq!(status, 401, "{}", app.backend);
            assert_eq!(body["error"], "invalid_client");
            assert!(body["error_description"].as_str().unwrap().contains("client_secret"));
        }
    }
}

#[tokio::test]
async fn other_grant_types_missing_fields_and_malformed_bodies_are_400() {
    for app in default_apps().await {
        let client_id = &app.org.api_client.key;
        let secret = &app.org.api_client.secret;
        let cases: Vec<(Value, &str, &str)> = vec![
            (
                json!({"client_id": client_id, "client_secret": secret, "audience": "https://api.mparticle.com", "grant_type": "password"}),
                "unsupported_grant_type",
                "grant_type",
            ),
            (
                json!({"client_id": client_id, "client_secret": secret, "audience": "https://api.mparticle.com"}),
                "invalid_request",
                "grant_type",
            ),
            (
                json!({"client_id": client_id, "client_secret": secret, "grant_type": "client_credentials"}),
                "invalid_request",
                "audience",
            ),
            (
                json!({"client_id": client_id, "client_secret": secret, "audience": "https://evil.example", "grant_type": "client_credentials"}),
                "invalid_request",
                "audience",
            ),
            (
                json!({"client_secret": secret, "audience": "https://api.mparticle.com", "grant_type": "client_credentials"}),
                "invalid_request",
                "client_id",
            ),
            (json!(["not", "an", "object"]), "invalid_request", "malformed JSON"),
        ];
        for (body, error, mentions) in cases {
            let response = app.http.post(app.url("/oauth/token")).json(&body).send().await.unwrap();
            let (status, answer) = read(response).await;
            assert_eq!(status, 400, "{body}");
            assert_eq!(answer["error"], error, "{body}");
            assert!(answer["error_description"].as_str().unwrap().contains(mentions), "{answer}");
        }
        let response = app
            .http
            .post(app.url("/oauth/token"))
            .header("content-type", "application/json")
            .body("{\"client_id\": ")
            .send()
            .await
            .unwrap();
        assert_eq!(read(response).await.0, 400);
    }
}

#[tokio::test]
async fn a_configured_audience_is_accepted_beside_mparticles() {
    let config =
        ServeConfig { extra_audiences: vec!["https://custos.example.com".into()], ..ServeConfig::mparticle_defaults() };
    for app in apps(config).await {
        let body = json!({
            "client_id": app.org.api_client.key,
            "client_secret": app.org.api_client.secret,
            "audience": "https://custos.example.com",
            "grant_type": "client_credentials",
        });
        let response = app.http.post(app.url("/oauth/token")).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(app.request_token(&app.org.api_client.key, &app.org.api_client.secret).await.status(), 200);
    }
}

#[tokio::test]
async fn missing_malformed_and_unknown_bearer_tokens_are_401() {
    for app in default_apps().await {
        let url = app.platform("/roles");
        let response = app.http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let response = app.http.get(&url).header("authorization", "Basic abc").send().await.unwrap();
        assert_eq!(response.status(), 401);
        let (status, body) = app.get(&url, "made-up-token").await;
        assert_eq!(status, 401);
        assert!(crate::helpers::messages(&body).contains("access token"));
    }
}

#[tokio::test]
async fn tokens_expire() {
    let config = ServeConfig { token_ttl: Duration::from_secs(1), ..ServeConfig::mparticle_defaults() };
    for app in apps(config).await {
        let response = app.request_token(&app.org.api_client.key, &app.org.api_client.secret).await;
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["expires_in"], 1);
        let token = body["access_token"].as_str().unwrap().to_owned();
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(app.get(&app.platform("/roles"), &token).await.0, 401, "{}", app.backend);
    }
}

#[tokio::test]
async fn tokens_stop_working_when_their_credential_is_deleted() {
    for app in default_apps().await {
        let issued =
            provision::create_api_credential(&*app.store, app.org.ids.org_id, "temporary", vec![Scope::CustomRoles])
                .await
                .unwrap();
        let token = app.token_of(&issued.key, &issued.secret).await;
        assert_eq!(app.get(&app.platform("/tasks"), &token).await.0, 200);
        assert!(app.store.delete_api_credential(&issued.key).await.unwrap());
        assert_eq!(app.get(&app.platform("/tasks"), &token).await.0, 401, "{}", app.backend);
        assert_eq!(app.request_token(&issued.key, &issued.secret).await.status(), 401);
    }
}
