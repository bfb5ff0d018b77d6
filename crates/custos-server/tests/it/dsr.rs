//! The Data Subject Request API v3 (OpenDSR): requests, statuses, cancels,
//! signatures (checked with openssl, an independent implementation),
//! callbacks to a real receiver, exports, and erasure down to the raw files.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use custos_server::config::DsrConfig;
use custos_server::{ServeConfig, WorkOutcome};
use serde_json::{json, Value};

use crate::helpers::{apps, read, TestApp};

/// Erasures run at once; callbacks may reach loopback; the server runs no
/// worker: tests step the app's own (`TestApp::worker`).
pub(crate) fn dsr_config() -> ServeConfig {
    let mut dsr = DsrConfig::mparticle_defaults();
    dsr.schedule.erasure_waiting_period = Duration::ZERO;
    dsr.allowed_callback_networks = vec!["127.0.0.1/32".parse().unwrap()];
    dsr.run_workers = false;
    ServeConfig { dsr, ..ServeConfig::mparticle_defaults() }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn body(id: &str, kind: &str, identities: Value) -> Value {
    json!({
        "regulation": "gdpr",
        "subject_request_id": id,
        "subject_request_type": kind,
        "submitted_time": "2026-11-01T15:00:00Z",
        "subject_identities": identities,
        "api_version": "3.0",
    })
}

fn email(address: &str) -> Value {
    json!({ "email": { "value": address, "encoding": "raw" } })
}

impl TestApp {
    fn workspace_auth(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.basic_auth(&self.org.workspace.key, Some(&self.org.workspace.secret))
    }

    async fn dsr_create(&self, body: &Value) -> reqwest::Response {
        self.workspace_auth(self.http.post(self.url("/v3/requests"))).json(body).send().await.unwrap()
    }

    async fn dsr_status(&self, id: &str) -> (u16, Value) {
        read(self.workspace_auth(self.http.get(self.url(&format!("/v3/requests/{id}")))).send().await.unwrap()).await
    }

    /// Steps the worker until no request is due; request `id` must then be at `status`.
    async fn dsr_process(&self, id: &str, status: &str) -> Value {
        self.run_due_requests().await;
        let (code, body) = self.dsr_status(id).await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["request_status"], status, "{}: request {id}", self.backend);
        body
    }

    /// Steps the worker until no request is due.
    async fn run_due_requests(&self) {
        for _ in 0..100 {
            if self.worker.run_once().await.unwrap() == WorkOutcome::Idle {
                return;
            }
        }
        panic!("{}: requests were still due after 100 steps", self.backend);
    }

    /// Sends callbacks until none is due (the oldest owed to a URL goes
    /// first, so each status takes a step of its own).
    async fn send_due_callbacks(&self) {
        for _ in 0..100 {
            if self.worker.send_callbacks_once().await.unwrap() == 0 {
                return;
            }
        }
        panic!("{}: callbacks were still due after 100 steps", self.backend);
    }

    /// Sends a batch through the Events API with the server input.
    async fn send_batch(&self, batch: &Value) {
        let response = self
            .http
            .post(self.url("/v2/events"))
            .basic_auth(&self.org.server_input.key, Some(&self.org.server_input.secret))
            .json(batch)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    }

    async fn search(&self, email: &str) -> u16 {
        self.http
            .post(self.url("/v1/search"))
            .basic_auth(&self.org.web_input.key, Some(&self.org.web_input.secret))
            .json(&json!({ "known_identities": { "email": email } }))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

fn batch_of(email: &str, marker: &str, n: usize) -> Value {
    json!({
        "environment": "production",
        "source_request_id": format!("{marker}-{n}"),
        "user_identities": { "email": email, "customer_id": format!("cust-{marker}") },
        "device_info": { "ios_advertising_id": format!("idfa-{marker}") },
        "user_attributes": { "favourite": format!("attr-{marker}") },
        "consent_state": { "gdpr": { "marketing": { "consented": true, "document": format!("doc-{marker}"), "timestamp_unixtime_ms": 1 } } },
        "events": [
            { "event_type": "custom_event", "data": { "event_name": format!("event-{marker}"), "custom_event_type": "other" } },
            { "event_type": "screen_view", "data": { "screen_name": "home" } },
        ],
    })
}

#[tokio::test]
async fn requests_are_created_and_followed_as_opendsr_says() {
    for app in apps(dsr_config()).await {
        let id = new_id();
        let mut request = body(&id, "access", email("nobody@example.com"));
        request["group_id"] = json!("batch-7");
        // The docs write the path with a trailing slash; both work.
        let response = app.workspace_auth(app.http.post(app.url("/v3/requests/"))).json(&request).send().await.unwrap();
        assert_eq!(response.status(), 201, "{}", app.backend);
        assert_eq!(response.headers()["x-opendsr-processor-domain"], "127.0.0.1");
        assert!(response.headers().contains_key("x-opendsr-signature"));
        let created: Value = response.json().await.unwrap();
        assert_eq!(created["subject_request_id"], id);
        assert_eq!(created["controller_id"], app.org.ids.workspace_id.0.to_string());
        let encoded: Value =
            serde_json::from_slice(&STANDARD.decode(created["encoded_request"].as_str().unwrap()).unwrap()).unwrap();
        assert_eq!(encoded, request);
        assert!(created["expected_completion_time"].as_str().unwrap().ends_with('Z'));
        assert!(created["received_time"].is_string());

        let done = app.dsr_process(&id, "completed").await;
        assert_eq!(done["api_version"], "3.0");
        assert_eq!(done["group_id"], "batch-7");
        assert_eq!(done["results_url"], app.url(&format!("/v3/requests/{id}/results")));
        let (code, error) =
            read(app.workspace_auth(app.http.get(done["results_url"].as_str().unwrap())).send().await.unwrap()).await;
        assert_eq!((code, error["message"].as_str()), (404, Some("No records matched the subject.")));

        let (code, group) =
            read(app.workspace_auth(app.http.get(app.url("/v3/requests?group_id=batch-7"))).send().await.unwrap())
                .await;
        assert_eq!((code, group.as_array().unwrap().len()), (200, 1));
        assert_eq!(group[0]["subject_request_id"], id);

        // An unknown id (what DataGrail's connection check asks) is 404; bad credentials are 401.
        assert_eq!(app.dsr_status("0").await.0, 404);
        let wrong = app
            .http
            .get(app.url("/v3/requests/0"))
            .basic_auth(&app.org.workspace.key, Some("wrong"))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);
        let (code, body) = read(app.http.get(app.url(&format!("/v3/requests/{id}"))).send().await.unwrap()).await;
        assert_eq!((code, body["code"].as_u64()), (401, Some(401)));
        // Input keys are not workspace keys.
        let input = app
            .http
            .get(app.url("/v3/requests/0"))
            .basic_auth(&app.org.server_input.key, Some(&app.org.server_input.secret))
            .send()
            .await
            .unwrap();
        assert_eq!(input.status(), 401);
    }
}

#[tokio::test]
async fn bad_bodies_duplicates_and_overlaps_are_refused_in_mparticle_s_error_shape() {
    for app in apps(dsr_config()).await {
        let id = new_id();
        let erase = body(&id, "access", email("dup@example.com"));
        assert_eq!(app.dsr_create(&erase).await.status(), 201);
        let (code, error) = read(app.dsr_create(&erase).await).await;
        assert_eq!(code, 400, "{}", app.backend);
        assert_eq!(error["code"], 400);
        assert_eq!(error["message"], "Subject request already exists.");
        assert_eq!(error["errors"][0]["domain"], "Validation");
        assert!(error["errors"][0]["reason"].is_string());

        let cases = [
            (json!({ "regulation": "hipaa" }), "regulation"),
            (json!({ "subject_request_id": "not-a-uuid" }), "subject_request_id"),
            (json!({ "subject_identities": { "email": { "value": "a@b.c", "encoding": "sha256" } } }), "only raw"),
            (json!({ "status_callback_urls": ["http://10.0.0.1/cb"] }), "status_callback_urls[0]"),
            (
                json!({ "extensions": { "opendsr.mparticle.com": { "subject_identities": { "mpid": { "value": "5", "encoding": "raw" } } } } }),
                "If an mpid is provided, it must be the only identity in the request.",
            ),
        ];
        for (change, expected) in cases {
            let mut bad = body(&new_id(), "erasure", email("x@example.com"));
            for (key, value) in change.as_object().unwrap() {
                bad[key] = value.clone();
            }
            let (code, error) = read(app.dsr_create(&bad).await).await;
            assert_eq!(code, 400, "{change}");
            assert!(error["message"].as_str().unwrap().contains(expected), "{change}: {error}");
        }
        let raw = app.workspace_auth(app.http.post(app.url("/v3/requests"))).body("{nope").send().await.unwrap();
        let (code, error) = read(raw).await;
        assert!(code == 400 && error["message"].as_str().unwrap().starts_with("body: invalid JSON"), "{error}");
    }
    // An open request for the same identities and type is a conflict.
    let mut config = dsr_config();
    config.dsr.schedule.erasure_waiting_period = Duration::from_secs(3600);
    for app in apps(config).await {
        assert_eq!(app.dsr_create(&body(&new_id(), "erasure", email("same@example.com"))).await.status(), 201);
        let (code, error) = read(app.dsr_create(&body(&new_id(), "erasure", email("same@example.com"))).await).await;
        assert_eq!((code, error["code"].as_u64()), (409, Some(409)), "{error}");
    }
}

#[tokio::test]
async fn a_pending_erasure_can_be_cancelled_during_its_waiting_period() {
    let mut config = dsr_config();
    config.dsr.schedule.erasure_waiting_period = Duration::from_secs(7 * 86_400);
    for app in apps(config).await {
        app.send_batch(&batch_of("keep@example.com", "keep", 0)).await;
        let id = new_id();
        assert_eq!(app.dsr_create(&body(&id, "erasure", email("keep@example.com"))).await.status(), 201);
        let (_, status) = app.dsr_status(&id).await;
        assert_eq!(status["request_status"], "pending");
        let expected = time::OffsetDateTime::parse(
            status["expected_completion_time"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert!(expected - time::OffsetDateTime::now_utc() > time::Duration::days(8), "7 days + 48 h: {expected}");

        let response =
            app.workspace_auth(app.http.delete(app.url(&format!("/v3/requests/{id}")))).send().await.unwrap();
        assert_eq!(response.status(), 202);
        assert!(response.headers().contains_key("x-opendsr-signature"));
        let (_, cancelled) = read(response).await;
        assert_eq!(
            (cancelled["request_status"].as_str(), &cancelled["expected_completion_time"]),
            (Some("cancelled"), &Value::Null)
        );
        assert_eq!(app.dsr_status(&id).await.1["request_status"], "cancelled");
        let again = app.workspace_auth(app.http.delete(app.url(&format!("/v3/requests/{id}")))).send().await.unwrap();
        assert_eq!(again.status(), 409);
        assert_eq!(app.search("keep@example.com").await, 200, "nothing was erased");
        let steps = audit_steps(&app, &id).await;
        assert_eq!(steps, ["received", "waiting", "cancelled"]);
    }
    // Once processing has run, a cancel is refused.
    for app in apps(dsr_config()).await {
        let id = new_id();
        app.dsr_create(&body(&id, "erasure", email("gone@example.com"))).await;
        app.dsr_process(&id, "completed").await;
        let late = app.workspace_auth(app.http.delete(app.url(&format!("/v3/requests/{id}")))).send().await.unwrap();
        let (code, error) = read(late).await;
        assert_eq!(code, 409);
        assert!(error["message"].as_str().unwrap().contains("only a pending request can be cancelled"));
    }
}

/// Verifies an RSA-SHA256 signature with the openssl command and a certificate.
fn openssl_verifies(certificate_pem: &str, body: &[u8], signature_b64: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    std::fs::write(path("cert.pem"), certificate_pem).unwrap();
    std::fs::write(path("body"), body).unwrap();
    std::fs::write(path("sig"), STANDARD.decode(signature_b64).unwrap()).unwrap();
    let pubkey = std::process::Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(path("cert.pem"))
        .output()
        .expect("openssl is installed");
    assert!(pubkey.status.success(), "{}", String::from_utf8_lossy(&pubkey.stderr));
    std::fs::write(path("pub.pem"), &pubkey.stdout).unwrap();
    let verify = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(path("pub.pem"))
        .arg("-signature")
        .arg(path("sig"))
        .arg(path("body"))
        .output()
        .unwrap();
    verify.status.success() && String::from_utf8_lossy(&verify.stdout).contains("Verified OK")
}

async fn certificate_of(app: &TestApp) -> String {
    let (code, discovery) = read(app.http.get(app.url("/v3/discovery")).send().await.unwrap()).await;
    assert_eq!(code, 200);
    assert_eq!(discovery["supported_identities"].as_array().unwrap().len(), 11);
    assert_eq!(discovery["supported_subject_request_types"], json!(["access", "erasure", "portability"]));
    let url = discovery["processor_certificate"].as_str().unwrap();
    assert_eq!(url, app.url("/v3/certificate.pem"));
    app.http.get(url).send().await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn responses_are_signed_with_the_key_of_the_served_certificate() {
    for app in apps(dsr_config()).await {
        let certificate = certificate_of(&app).await;
        assert!(certificate.starts_with("-----BEGIN CERTIFICATE-----"));
        let subject = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("echo '{certificate}' | openssl x509 -noout -subject -nameopt RFC2253"))
            .output()
            .unwrap();
        let subject = String::from_utf8_lossy(&subject.stdout);
        assert!(subject.contains("CN=127.0.0.1"), "CN is the processor domain: {subject}");

        let response = app.dsr_create(&body(&new_id(), "access", email("sig@example.com"))).await;
        let signature = response.headers()["x-opendsr-signature"].to_str().unwrap().to_owned();
        let bytes = response.bytes().await.unwrap();
        assert!(openssl_verifies(&certificate, &bytes, &signature), "{}", app.backend);
        let mut tampered = bytes.to_vec();
        tampered[5] ^= 1;
        assert!(!openssl_verifies(&certificate, &tampered, &signature));
    }
}

/// A callback as received.
struct Callback {
    body: Vec<u8>,
    /// `X-OpenDSR-Signature`.
    signature: String,
    /// `X-OpenDSR-Processor-Domain`.
    domain: String,
}

type Received = Arc<Mutex<Vec<Callback>>>;

/// A real HTTP receiver for callbacks, recording each body with its signature.
struct Receiver {
    url: String,
    received: Received,
}

async fn start_receiver(fail_first: usize) -> Receiver {
    use axum::http::{HeaderMap, StatusCode};
    let received: Received = Arc::default();
    let failures = Arc::new(Mutex::new(fail_first));
    let log = received.clone();
    let app = axum::Router::new().route(
        "/callbacks",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (log, failures) = (log.clone(), failures.clone());
            async move {
                let mut left = failures.lock().unwrap();
                if *left > 0 {
                    *left -= 1;
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
                log.lock().unwrap().push(Callback {
                    body: body.to_vec(),
                    signature: header("x-opendsr-signature"),
                    domain: header("x-opendsr-processor-domain"),
                });
                StatusCode::ACCEPTED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/callbacks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { url, received }
}

#[tokio::test]
async fn every_status_change_is_called_back_signed_and_retried_until_answered() {
    for app in apps(dsr_config()).await {
        // The receiver fails its first answer: the callback is retried.
        let receiver = start_receiver(1).await;
        let id = new_id();
        let mut request = body(&id, "erasure", email("cb@example.com"));
        request["status_callback_urls"] = json!([receiver.url]);
        assert_eq!(app.dsr_create(&request).await.status(), 201);
        app.dsr_process(&id, "completed").await;
        let certificate = certificate_of(&app).await;
        let statuses = || {
            receiver
                .received
                .lock()
                .unwrap()
                .iter()
                .map(|callback| {
                    let status = serde_json::from_slice::<Value>(&callback.body).unwrap();
                    status["request_status"].as_str().unwrap().to_owned()
                })
                .collect::<Vec<_>>()
        };
        // The first attempt is answered 503; the statuses after it wait for it.
        app.send_due_callbacks().await;
        assert_eq!(statuses(), Vec::<String>::new(), "{}", app.backend);
        // Its retry is due a second later.
        app.clock.advance(Duration::from_secs(1));
        app.send_due_callbacks().await;
        let statuses = statuses();
        assert_eq!(statuses, ["pending", "in_progress", "completed"], "{}: in the order they happened", app.backend);
        for Callback { body, signature, domain } in receiver.received.lock().unwrap().iter() {
            assert_eq!(domain, "127.0.0.1");
            assert!(openssl_verifies(&certificate, body, signature), "a callback's signature verifies");
            let status: Value = serde_json::from_slice(body).unwrap();
            assert_eq!(status["subject_request_id"], id);
            assert_eq!(status["status_callback_url"], receiver.url);
        }
        let steps = audit_steps(&app, &id).await;
        assert!(
            steps.contains(&"callback_attempted".to_owned()),
            "the failed attempt is in the audit trail: {steps:?}"
        );
        assert_eq!(steps.iter().filter(|s| *s == "callback_answered").count(), 3);
    }
}

async fn audit_steps(app: &TestApp, id: &str) -> Vec<String> {
    let token = app.token().await;
    let url = app.platform(&format!("/workspaces/{}/dsr/requests/{id}", app.org.ids.workspace_id.0));
    let (code, body) = app.get(&url, &token).await;
    assert_eq!(code, 200, "{body}");
    body["audit"].as_array().unwrap().iter().map(|e| e["step"].as_str().unwrap().to_owned()).collect()
}

fn unzip(bytes: &[u8]) -> Vec<(String, String)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut text = String::new();
            file.read_to_string(&mut text).unwrap();
            (file.name().unwrap().to_string(), text)
        })
        .collect()
}

#[tokio::test]
async fn access_exports_the_profile_and_every_batch_for_the_same_credentials() {
    for app in apps(dsr_config()).await {
        for n in 0..30 {
            app.send_batch(&batch_of("reader@example.com", "reader", n)).await;
        }
        app.send_batch(&batch_of("other@example.com", "other", 0)).await;
        let id = new_id();
        assert_eq!(app.dsr_create(&body(&id, "portability", email("reader@example.com"))).await.status(), 201);
        let done = app.dsr_process(&id, "completed").await;
        assert_eq!(done["results_count"], 1);
        let url = done["results_url"].as_str().unwrap();
        assert_eq!(app.http.get(url).send().await.unwrap().status(), 401, "the workspace's credentials are needed");
        let response = app.workspace_auth(app.http.get(url)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/zip");
        let files = unzip(&response.bytes().await.unwrap());
        let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["profile.jsonl".to_owned(), format!("{id}-batches.jsonl")]);
        let profiles: Vec<Value> = files[0].1.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(profiles.len(), 1);
        assert!(profiles[0]["user_identities"].to_string().contains("reader@example.com"));
        assert_eq!(profiles[0]["user_attributes"]["favourite"], "attr-reader");
        assert_eq!(profiles[0]["id"], profiles[0]["mpid"]);
        let batches: Vec<Value> = files[1].1.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(batches.len(), 30, "{}", app.backend);
        assert!(batches.iter().all(|b| b["user_identities"]["email"] == "reader@example.com"));
        assert!(!files[1].1.contains("other@example.com"));
        let steps = audit_steps(&app, &id).await;
        assert!(steps.contains(&"exported".to_owned()), "{steps:?}");
    }
}

/// Whether any of the SQLite files in `dir` holds `needle`.
fn sqlite_files_hold(dir: &std::path::Path, needle: &[u8]) -> bool {
    let mut checked = 0;
    let mut found = false;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("custos.db") {
            let bytes = std::fs::read(&path).unwrap();
            checked += bytes.len();
            found |= bytes.windows(needle.len()).any(|window| window == needle);
        }
    }
    assert!(checked > 0, "no SQLite files in {}", dir.display());
    found
}

#[tokio::test]
async fn erasure_leaves_no_trace_not_even_in_the_sqlite_files() {
    for app in apps(dsr_config()).await {
        let marker = uuid::Uuid::new_v4().simple().to_string();
        let address = format!("erase-{marker}@example.com");
        for n in 0..20 {
            app.send_batch(&batch_of(&address, &marker, n)).await;
        }
        app.send_batch(&batch_of("stays@example.com", "stays", 0)).await;
        // Batches are stored compressed, so the marker is not in their stored
        // bytes: look for those bytes themselves (the JSON as sent, compressed).
        let stored_batch =
            custos_store::BatchBody::compress(&serde_json::to_string(&batch_of(&address, &marker, 0)).unwrap());
        let stored_batch = stored_batch.stored().to_vec();
        if let Some(dir) = app.sqlite_dir() {
            assert!(sqlite_files_hold(&dir, &stored_batch), "the check can fail: the batch is in the files");
        }
        // An access export made earlier holds the subject's data too.
        let access = new_id();
        app.dsr_create(&body(&access, "access", email(&address))).await;
        let exported = app.dsr_process(&access, "completed").await;
        let results = exported["results_url"].as_str().unwrap().to_owned();
        assert_eq!(app.workspace_auth(app.http.get(&results)).send().await.unwrap().status(), 200);

        let erase = new_id();
        let mut request = body(&erase, "erasure", email(&address));
        request["status_callback_urls"] = json!([]);
        assert_eq!(app.dsr_create(&request).await.status(), 201);
        app.dsr_process(&erase, "completed").await;

        assert_eq!(app.search(&address).await, 404, "{}", app.backend);
        assert_eq!(app.search("stays@example.com").await, 200);
        assert_eq!(
            app.workspace_auth(app.http.get(&results)).send().await.unwrap().status(),
            410,
            "the export is gone"
        );
        let stats = app.store.stats().await.unwrap();
        assert_eq!((stats.totals.profiles, stats.totals.batches), (1, 1));
        let steps = audit_steps(&app, &erase).await;
        assert_eq!(steps[..4], ["received", "processing", "identities_resolved", "erased"], "{steps:?}");
        let audit_text = format!("{steps:?}");
        assert!(!audit_text.contains(&marker));

        if let Some(dir) = app.sqlite_dir() {
            assert!(!sqlite_files_hold(&dir, marker.as_bytes()), "the files still hold the erased subject");
            assert!(!sqlite_files_hold(&dir, &stored_batch), "the files still hold an erased batch");
            // The check can fail: the bystander, never erased, is in the files.
            let all: Vec<u8> = std::fs::read(dir.join("custos.db")).unwrap();
            let wal = std::fs::read(dir.join("custos.db-wal")).unwrap_or_default();
            let needle = b"stays@example.com";
            assert!(all.windows(needle.len()).any(|w| w == needle) || wal.windows(needle.len()).any(|w| w == needle));
        }
    }
}

#[tokio::test]
async fn a_suppressed_subject_is_not_rebuilt_by_later_data() {
    for app in apps(dsr_config()).await {
        app.send_batch(&batch_of("ghost@example.com", "ghost", 0)).await;
        let id = new_id();
        let mut request = body(&id, "erasure", email("ghost@example.com"));
        request["extensions"] =
            json!({ "opendsr.mparticle.com": { "suppress_subject": true, "skip_waiting_period": true } });
        assert_eq!(app.dsr_create(&request).await.status(), 201);
        app.dsr_process(&id, "completed").await;

        app.send_batch(&batch_of("ghost@example.com", "ghost", 1)).await;
        // The device ID alone was on the erased profile too.
        app.send_batch(&json!({ "environment": "production", "device_info": { "ios_advertising_id": "idfa-ghost" }, "events": [] })).await;
        assert_eq!(app.store.stats().await.unwrap().totals.profiles, 0, "{}", app.backend);
        let identify = app
            .http
            .post(app.url("/v1/identify"))
            .basic_auth(&app.org.web_input.key, Some(&app.org.web_input.secret))
            .json(&json!({ "known_identities": { "email": "ghost@example.com" } }))
            .send()
            .await
            .unwrap();
        let (code, answer) = read(identify).await;
        assert_eq!((code, &answer["is_ephemeral"]), (200, &json!(true)));
        assert_eq!(app.search("ghost@example.com").await, 404);
        assert_eq!(app.store.stats().await.unwrap().totals.profiles, 0);
        // Other subjects are unaffected.
        app.send_batch(&batch_of("alive@example.com", "alive", 0)).await;
        assert_eq!(app.search("alive@example.com").await, 200);
    }
}

#[tokio::test]
async fn the_workspace_rate_limit_answers_429_with_retry_after() {
    let mut config = dsr_config();
    config.dsr.requests_per_minute = 3;
    for app in apps(config).await {
        for _ in 0..3 {
            assert_eq!(app.dsr_status("0").await.0, 404);
        }
        let response = app.workspace_auth(app.http.get(app.url("/v3/requests/0"))).send().await.unwrap();
        assert_eq!(response.status(), 429);
        assert!(response.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
        let (_, body) = read(response).await;
        assert_eq!(body["code"], 429);
    }
}

#[tokio::test]
async fn administration_needs_the_dsr_scope_and_shows_no_personal_data() {
    for app in apps(dsr_config()).await {
        let id = new_id();
        app.dsr_create(&body(&id, "erasure", email("admin-view@example.com"))).await;
        app.dsr_process(&id, "completed").await;
        let token = app.token().await;
        let list_url = app.platform(&format!("/workspaces/{}/dsr/requests", app.org.ids.workspace_id.0));
        let (code, list) = app.get(&list_url, &token).await;
        assert_eq!((code, list[0]["subject_request_id"].as_str()), (200, Some(id.as_str())));
        let (code, shown) = app.get(&format!("{list_url}/{id}"), &token).await;
        assert_eq!(code, 200);
        assert!(!shown.to_string().contains("admin-view@example.com"));
        assert_eq!(shown["status"], "completed");

        let issued = custos_server::provision::create_api_credential(
            &*app.store,
            app.org.ids.org_id,
            "profiles only",
            vec![custos_core::scope::Scope::Profile],
        )
        .await
        .unwrap();
        let narrow = app.token_of(&issued.key, &issued.secret).await;
        assert_eq!(app.get(&list_url, &narrow).await.0, 403);
        let (code, _) = app.get(&app.platform("/workspaces/999999/dsr/requests"), &token).await;
        assert_eq!(code, 404);
    }
}
