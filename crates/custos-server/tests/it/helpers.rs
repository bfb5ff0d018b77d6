//! Starting the server for a test and talking to it.

use std::sync::Arc;

use custos_server::provision::{self, ProvisionedOrganization};
use custos_server::{Clock, DsrWorker, ServeConfig};
use custos_store::testing::{test_sources, TestSource};
use custos_store::Store;
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub(crate) struct TestApp {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) org: ProvisionedOrganization,
    pub(crate) backend: &'static str,
    /// A worker of data subject requests on the server's store, for tests
    /// to step when the server runs none (`DsrConfig::run_workers` off).
    pub(crate) worker: DsrWorker,
    /// The worker's clock.
    pub(crate) clock: Clock,
    _shutdown: oneshot::Sender<()>,
    _source: TestSource,
}

/// One running server per backend, each with a fresh organization.
pub(crate) async fn apps(config: ServeConfig) -> Vec<TestApp> {
    let mut apps = Vec::new();
    for source in test_sources().await {
        apps.push(TestApp::spawn(source, config.clone()).await);
    }
    apps
}

pub(crate) async fn default_apps() -> Vec<TestApp> {
    apps(ServeConfig::mparticle_defaults()).await
}

impl TestApp {
    pub(crate) async fn spawn(source: TestSource, mut config: ServeConfig) -> TestApp {
        let store = custos_store::open(&source.source).await.unwrap();
        let org = provision::create_organization(&*store, &config.master_key, "Test organization").await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        // What serve would take, given to the worker as well.
        config.public_url.get_or_insert_with(|| base.clone());
        let clock = Clock::default();
        let worker = DsrWorker::new(store.clone(), &config, clock.clone());
        let (shutdown, stop) = oneshot::channel::<()>();
        tokio::spawn(custos_server::serve(listener, store.clone(), config, async {
            let _ = stop.await;
        }));
        TestApp {
            base,
            http: reqwest::Client::new(),
            store,
            org,
            backend: source.backend,
            worker,
            clock,
            _shutdown: shutdown,
            _source: source,
        }
    }

    /// The directory of the SQLite store, for tests that read its raw files.
    pub(crate) fn sqlite_dir(&self) -> Option<std::path::PathBuf> {
        match &self._source.source {
            custos_store::DataSource::DataDir(dir) => Some(dir.clone()),
            custos_store::DataSource::Url(_) => None,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A URL under `/platform/v2/organizations/{org}/accounts/{account}` of this app's organization.
    pub(crate) fn platform(&self, suffix: &str) -> String {
        self.url(&format!(
            "/platform/v2/organizations/{}/accounts/{}{suffix}",
            self.org.ids.org_id, self.org.ids.account_id
        ))
    }

    pub(crate) async fn request_token(&self, client_id: &str, client_secret: &str) -> reqwest::Response {
        self.http
            .post(self.url("/oauth/token"))
            .json(&json!({
                "client_id": client_id,
                "client_secret": client_secret,
                "audience": "https://api.mparticle.com",
                "grant_type": "client_credentials",
            }))
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn token_of(&self, client_id: &str, client_secret: &str) -> String {
        let response = self.request_token(client_id, client_secret).await;
        assert_eq!(response.status(), 200, "{}", self.backend);
        response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
    }

    /// A token of the organization's own API client, which has every scope.
    pub(crate) async fn token(&self) -> String {
        self.token_of(&self.org.api_client.key, &self.org.api_client.secret).await
    }

    pub(crate) async fn get(&self, url: &str, token: &str) -> (u16, Value) {
        let response = self.http.get(url).bearer_auth(token).send().await.unwrap();
        read(response).await
    }

    pub(crate) async fn put_json(&self, url: &str, token: &str, body: &Value) -> (u16, Value) {
        let response = self.http.put(url).bearer_auth(token).json(body).send().await.unwrap();
        read(response).await
    }

    pub(crate) async fn put_raw(&self, url: &str, token: &str, body: &'static str) -> (u16, Value) {
        let response = self
            .http
            .put(url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        read(response).await
    }
}

/// Status and JSON body; every answer of the server, errors included, is JSON.
pub(crate) async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    if text.is_empty() {
        return (status, Value::Null);
    }
    assert_eq!(content_type.as_deref(), Some("application/json"), "status {status}: {text}");
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")))
}

/// The messages of an error body in mParticle's shape.
pub(crate) fn messages(body: &Value) -> String {
    body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors array in {body}"))
        .iter()
        .map(|e| {
            assert!(e["code"].is_string(), "error without code: {e}");
            e["message"].as_str().unwrap().to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}
