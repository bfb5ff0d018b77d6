//! Behaviour common to every route: health, JSON errors, body limits, request ids.

use crate::helpers::{default_apps, read};

#[tokio::test]
async fn healthz_answers_200_with_the_backend() {
    for app in default_apps().await {
        let (status, body) = read(app.http.get(app.url("/healthz")).send().await.unwrap()).await;
        assert_eq!(status, 200);
        assert_eq!(body["store"], app.backend);
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json_errors() {
    for app in default_apps().await {
        let (status, body) = read(app.http.get(app.url("/no/such/thing")).send().await.unwrap()).await;
        assert_eq!(status, 404);
        assert_eq!(body["errors"][0]["code"], "NOT_FOUND");
        let (status, body) = read(app.http.delete(app.platform("/tasks")).send().await.unwrap()).await;
        assert_eq!(status, 405);
        assert_eq!(body["errors"][0]["code"], "METHOD_NOT_ALLOWED");
    }
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413_before_or_while_reading() {
    for app in default_apps().await {
        let token = app.token().await;
        let big = vec![b' '; 2 * 1024 * 1024];
        let response = app.http.put(app.platform("/roles")).bearer_auth(&token).body(big.clone()).send().await;
        let (status, body) = read(response.unwrap()).await;
        assert_eq!(status, 413);
        assert_eq!(body["errors"][0]["code"], "PAYLOAD_TOO_LARGE");

        // Without a declared length the body is cut at the limit as it streams in.
        let stream = futures_stream(big);
        let response = app
            .http
            .put(app.platform("/roles"))
            .bearer_auth(&token)
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await;
        let (status, body) = read(response.unwrap()).await;
        assert_eq!(status, 413, "{body}");
        // Nothing was stored and the server still answers.
        assert!(app.store.role_manifest(app.org.ids.org_id).await.unwrap().roles.is_empty());
        assert_eq!(app.get(&app.platform("/roles"), &token).await.0, 200);
    }
}

fn futures_stream(bytes: Vec<u8>) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = bytes.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    futures_util::stream::iter(chunks)
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    for app in default_apps().await {
        let response = app.http.get(app.url("/healthz")).send().await.unwrap();
        assert!(response.headers().get("x-request-id").is_some_and(|v| !v.is_empty()));
        let response = app.http.get(app.url("/healthz")).header("x-request-id", "abc-123").send().await.unwrap();
        assert_eq!(response.headers()["x-request-id"], "abc-123");
    }
}
