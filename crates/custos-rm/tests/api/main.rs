//! The HTTP API's own rules, with no platform behind it: authentication,
//! validation naming fields, unreachable platforms, unsigned callbacks
//! (here); roles and sessions on every route (`roles.rs`); the workflow's
//! rules and timers, moved by a manual clock (`workflow.rs`). Everything
//! that needs a platform is in `crates/custos/tests/rm.rs`, against real
//! `custos serve` processes.

mod roles;
mod workflow;

use std::path::Path;
use std::sync::Arc;

use custos_kit::clock::ManualClock;
use custos_rm::config::WorkflowConfig;
use custos_rm::domain::role::{Actor, Role};
use custos_rm::store::{DataSource, NewConnection};
use custos_rm::{RequestManager, ServeConfig};
use serde_json::{json, Value};

struct Service {
    base: String,
    token: String,
    client: reqwest::Client,
    dir: tempfile::TempDir,
    manager: RequestManager,
    clock: Arc<ManualClock>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn manager(dir: &Path) -> RequestManager {
    RequestManager::open(&DataSource::DataDir(dir.to_owned()), dir).await.unwrap()
}

async fn start() -> Service {
    start_with(|config| config).await
}

/// The service on a free port, its public URL that address, its time a
/// manual clock (starting now), its workflow configured by `configure`.
async fn start_with(configure: impl FnOnce(WorkflowConfig) -> WorkflowConfig) -> Service {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let config = configure(WorkflowConfig::new(url::Url::parse(&base).unwrap()));
    let manager = manager(dir.path()).await.with_config(config).with_clock(clock.clone());
    let (token, _) = manager.issue_api_token(Role::SuperAdmin, "init", &Actor::Cli).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serve_config = ServeConfig { public_url: base.clone(), poll_interval: std::time::Duration::from_secs(60) };
    tokio::spawn(custos_rm::serve(listener, manager.clone(), serve_config, async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    Service { base, token, client, dir, manager, clock, stop: Some(stop) }
}

impl Service {
    /// A connection straight into the store: nothing listens there, so its
    /// jobs only retry; enough for the workflow's own rules.
    async fn fake_connection(&self) {
        let sealed = self.manager.key.seal("secret");
        let connection = NewConnection {
            name: "unreachable".into(),
            pod: None,
            base_url: Some("http://127.0.0.1:9".into()),
            workspace_key: "wk".into(),
            workspace_secret_sealed: sealed.clone(),
            web_key: "bk".into(),
            web_secret_sealed: sealed,
            created_at: self.manager.now(),
            certificate_sha256: None,
        };
        self.manager.store.insert_connection(connection).await.unwrap();
    }

    /// A token with `role`.
    async fn token(&self, role: Role) -> String {
        self.manager.issue_api_token(role, role.as_str(), &Actor::Cli).await.unwrap().0
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(&self.token), Some(body)).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, Some(&self.token), None).await
    }
}

/// Sends `request`: its status, and its body as JSON (or as a string).
async fn read(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn fields(errors: &Value) -> Vec<String> {
    errors["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap_or("").to_owned()).collect()
}

#[tokio::test]
async fn every_route_but_health_and_callbacks_needs_the_admin_token() {
    let service = start().await;
    let (status, _) = service.call(reqwest::Method::GET, "/healthz", None, None).await;
    assert_eq!(status, 200);
    for (method, path) in [
        (reqwest::Method::GET, "/rm/v1/connections"),
        (reqwest::Method::POST, "/rm/v1/connections"),
        (reqwest::Method::DELETE, "/rm/v1/connections/1"),
        (reqwest::Method::GET, "/rm/v1/requests"),
        (reqwest::Method::POST, "/rm/v1/requests"),
        (reqwest::Method::GET, "/rm/v1/requests/x"),
        (reqwest::Method::GET, "/rm/v1/requests/x/results"),
        (reqwest::Method::GET, "/rm/v1/stats"),
    ] {
        for token in [None, Some("wrong")] {
            let (status, body) = service.call(method.clone(), path, token, Some(json!({}))).await;
            assert_eq!(status, 401, "{method} {path} with {token:?}: {body}");
            assert_eq!(body["errors"][0]["code"], "unauthorized");
        }
    }
    let (status, body) = service.get("/rm/v1/connections").await;
    assert_eq!((status, body), (200, json!({"connections": []})));
    // The token is kept only as a digest.
    let database = std::fs::read(service.dir.path().join("rm.db")).unwrap();
    assert!(!String::from_utf8_lossy(&database).contains(&service.token));
}

#[tokio::test]
async fn bad_input_is_refused_naming_each_field_and_rule() {
    let service = start().await;
    let (status, body) = service
        .post("/rm/v1/requests", json!({"type": "erase", "regulation": 5, "subject": {"mail": "a@b.c"}, "extra": 1}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(fields(&body), ["extra", "regulation", "subject.mail"]);
    let (status, body) = service
        .post(
            "/rm/v1/requests",
            json!({"type": "opt_out", "regulation": "gdpr",
        "subject": {"email": "nope"}, "received_at": "yesterday"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(fields(&body), ["received_at"]);
    let (status, body) = service
        .post("/rm/v1/requests", json!({"type": "opt_out", "regulation": "gdpr", "subject": {"email": "nope"}}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(fields(&body), ["type", "subject.email"]);
    let response = service
        .client
        .post(format!("{}/rm/v1/requests", service.base))
        .bearer_auth(&service.token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(fields(&body), ["body"]);

    let (status, body) =
        service.post("/rm/v1/connections", json!({"name": "x", "type": "segment", "pod": "US9"})).await;
    assert_eq!(status, 400);
    assert_eq!(fields(&body), ["type", "pod", "workspace_key", "workspace_secret", "web_key", "web_secret"]);
    let (status, body) = service.get("/rm/v1/requests?status=done&limit=0").await;
    assert_eq!(status, 400);
    let mut got = fields(&body);
    got.sort();
    assert_eq!(got, ["limit", "status"]);
    assert_eq!(service.get("/rm/v1/requests/nope").await.0, 404);
    let (status, body) =
        service.call(reqwest::Method::DELETE, "/rm/v1/connections/abc", Some(&service.token), None).await;
    assert_eq!((status, fields(&body)), (400, vec!["id".to_owned()]));
    assert_eq!(service.call(reqwest::Method::DELETE, "/rm/v1/connections/9", Some(&service.token), None).await.0, 404);
    assert_eq!(service.get("/rm/v1/nothing").await.0, 404);
    let (status, body) = service.call(reqwest::Method::PUT, "/rm/v1/requests", Some(&service.token), None).await;
    assert_eq!((status, &body["errors"][0]["code"]), (405, &json!("method_not_allowed")));
}

#[tokio::test]
async fn a_request_needs_a_connection_and_an_unreachable_platform_is_not_connected() {
    let service = start().await;
    let valid = json!({"type": "deletion", "regulation": "gdpr", "subject": {"email": "ann@example.com"}});
    let (status, body) = service.post("/rm/v1/requests", valid).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("no connection exists"));

    // Nothing listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (status, body) = service
        .post(
            "/rm/v1/connections",
            json!({"name": "gone", "type": "mparticle", "base_url": format!("http://127.0.0.1:{port}"),
            "workspace_key": "wk", "workspace_secret": "ws", "web_key": "bk", "web_secret": "bs"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let errors = body["errors"].as_array().unwrap();
    let apis: Vec<&str> = errors.iter().map(|e| e["api"].as_str().unwrap()).collect();
    assert_eq!(apis, ["dsr", "identity", "events"]);
    for error in errors {
        assert_eq!(error["status"], Value::Null);
        assert!(error["message"].as_str().unwrap().contains("could not reach"), "{error}");
        assert!(error["remedy"].as_str().unwrap().contains("pod"), "{error}");
        assert!(!error.to_string().contains("\"ws\"") && !error.to_string().contains("\"bs\""));
    }
    assert_eq!(service.get("/rm/v1/connections").await.1, json!({"connections": []}));
}

#[tokio::test]
async fn unsigned_and_unverifiable_callbacks_are_refused() {
    let service = start().await;
    let body = json!({"subject_request_id": "4b1c2e9a-5f7d-4c3b-9e8a-1d2f3a4b5c6d", "request_status": "completed"});
    let (status, reply) =
        service.call(reqwest::Method::POST, "/rm/v1/callbacks/opendsr", None, Some(body.clone())).await;
    assert_eq!(status, 401, "{reply}");
    assert!(reply["errors"][0]["message"].as_str().unwrap().contains("X-OpenDSR-Signature"));
    let response = service
        .client
        .post(format!("{}/rm/v1/callbacks/opendsr", service.base))
        .header("X-OpenDSR-Signature", include_str!("../fixtures/status-body.sig"))
        .body(include_str!("../fixtures/status-body.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "no connected processor signed it");
}

#[tokio::test]
async fn a_store_opens_only_with_its_own_key() {
    let dir = tempfile::tempdir().unwrap();
    manager(dir.path()).await;
    let other = tempfile::tempdir().unwrap();
    for file in ["rm.db", "rm.db-wal"] {
        if dir.path().join(file).exists() {
            std::fs::copy(dir.path().join(file), other.path().join(file)).unwrap();
        }
    }
    let source = DataSource::DataDir(other.path().to_owned());
    let error = RequestManager::open(&source, other.path()).await.err().expect("another key is refused");
    assert!(error.to_string().contains("does not open this store's secrets"), "{error}");
}
