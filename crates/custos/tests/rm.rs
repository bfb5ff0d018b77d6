//! The Request Manager end to end: real `custos serve` platforms (one per
//! "pod"), a real `custos rm serve`, real HTTP and real processes.
//!
//! The Request Manager's store runs on SQLite and, when
//! `CUSTOS_TEST_DATABASE_URL` is set, on PostgreSQL too.

use std::borrow::BorrowMut;
use std::fs::File;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use custos_rm::domain::connection::Credentials;
use custos_rm::domain::request::{Regulation, RequestKind, Subject};
use custos_rm::processor::opendsr::request_body;
use custos_rm::processor::{Processor, Processors, Submission};
use custos_store::testing::{fresh_postgres_schema, TEST_DATABASE_URL};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const SUBJECT: &str = "ann.subject@example.com";
const BYSTANDER: &str = "bob.bystander@example.com";
const WAIT: Duration = Duration::from_secs(120);

fn custos() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_custos"));
    for name in [
        "CUSTOS_DATA_DIR",
        "CUSTOS_DATABASE_URL",
        "CUSTOS_LISTEN",
        "CUSTOS_CONFIG",
        "CUSTOS_PUBLIC_URL",
        "CUSTOS_RM_DATA_DIR",
        "CUSTOS_RM_DATABASE_URL",
        "CUSTOS_RM_LISTEN",
        "CUSTOS_RM_PUBLIC_URL",
        "CUSTOS_RM_MASTER_KEY",
        "CUSTOS_RM_WORKSPACE_SECRET",
        "CUSTOS_RM_WEB_SECRET",
        "CUSTOS_RM_SMTP_URL",
        "CUSTOS_RM_MAIL_FROM",
        "CUSTOS_RM_VERIFY",
        "CUSTOS_RM_REQUIRE_APPROVAL",
        "CUSTOS_RM_VERIFICATION_EXPIRY",
        "CUSTOS_RM_DELIVERY_LINK_EXPIRY",
        "CUSTOS_RM_DELIVERY_LINK_DOWNLOADS",
    ] {
        command.env_remove(name);
    }
    command
}

fn run(mut command: impl BorrowMut<Command>) -> Output {
    command.borrow_mut().output().unwrap()
}

fn run_ok(command: impl BorrowMut<Command>) -> Output {
    let output = run(command);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    output
}

fn json_stdout(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A process of the built binary, killed when dropped, its stderr in a file.
struct Process {
    child: Child,
    base: String,
}

impl Process {
    async fn start(mut command: Command, port: u16, log: &Path) -> Process {
        let log = File::options().create(true).append(true).open(log).unwrap();
        let child = command.stdout(Stdio::null()).stderr(Stdio::from(log)).spawn().unwrap();
        let process = Process { child, base: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = http().get(format!("{}/healthz", process.base)).send().await {
                if response.status() == 200 {
                    return process;
                }
            }
            assert!(Instant::now() < deadline, "{} did not become healthy", process.base);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn terminate(&mut self) {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        self.child.wait().unwrap();
    }

    fn kill_9(&mut self) {
        Command::new("kill").args(["-KILL", &self.child.id().to_string()]).status().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Custos platform: its organization's credentials and its server.
struct Platform {
    name: &'static str,
    dir: PathBuf,
    port: u16,
    org: Value,
    extra: Vec<String>,
    server: Option<Process>,
}

impl Platform {
    async fn start(root: &Path, name: &'static str, extra: &[&str]) -> Platform {
        let dir = root.join(name);
        let org = json_stdout(&run_ok(custos().args(["init", "--json", "--data-dir"]).arg(&dir)));
        let mut platform = Platform {
            name,
            dir,
            port: free_port(),
            org,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            server: None,
        };
        platform.restart().await;
        platform
    }

    async fn restart(&mut self) {
        let base = format!("http://127.0.0.1:{}", self.port);
        let mut command = custos();
        command
            .args(["serve", "--data-dir"])
            .arg(&self.dir)
            .args(["--listen", &format!("127.0.0.1:{}", self.port), "--public-url", &base])
            .args(["--allow-callback-network", "127.0.0.1/32", "--erasure-waiting-period", "0s"])
            .args(&self.extra);
        self.server = Some(Process::start(command, self.port, &self.dir.with_extension("log")).await);
    }

    fn stop(&mut self) {
        self.server.take().unwrap().terminate();
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn pair(&self, path: &[&str]) -> (String, String) {
        let mut value = &self.org;
        for key in path {
            value = &value[key];
        }
        let key = value.get("key").or_else(|| value.get("client_id")).unwrap().as_str().unwrap().to_owned();
        let secret = value.get("secret").or_else(|| value.get("client_secret")).unwrap().as_str().unwrap().to_owned();
        (key, secret)
    }

    fn connection(&self, name: &str) -> Value {
        let (workspace_key, workspace_secret) = self.pair(&["workspace"]);
        let (web_key, web_secret) = self.pair(&["inputs", "web"]);
        json!({"name": name, "type": "mparticle", "base_url": self.base(),
               "workspace_key": workspace_key, "workspace_secret": workspace_secret,
               "web_key": web_key, "web_secret": web_secret})
    }

    async fn ingest(&self, email: &str, event_name: &str) {
        let (key, secret) = self.pair(&["inputs", "server"]);
        let batch = json!({"environment": "production", "user_identities": {"email": email},
            "events": [{"event_type": "custom_event", "data": {"event_name": event_name, "custom_event_type": "other"}}]});
        let response = http()
            .post(format!("{}/v2/events", self.base()))
            .basic_auth(key, Some(secret))
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }

    /// The subject's MPID, through the Identity API.
    async fn search(&self, email: &str) -> Option<String> {
        let (key, secret) = self.pair(&["inputs", "web"]);
        let response = http()
            .post(format!("{}/v1/search", self.base()))
            .basic_auth(key, Some(secret))
            .json(&json!({"environment": "production", "known_identities": {"email": email}}))
            .send()
            .await
            .unwrap();
        let (status, body) = read(response).await;
        match status {
            200 => Some(body["mpid"].as_str().unwrap().to_owned()),
            404 => None,
            other => panic!("search answered {other}: {body}"),
        }
    }

    /// The profile's CCPA opt-out, through the Profile API.
    async fn sale_opt_out(&self, mpid: &str) -> Value {
        let (client_id, client_secret) = self.pair(&["api_client"]);
        let (_, token) = read(
            http()
                .post(format!("{}/oauth/token", self.base()))
                .json(&json!({"client_id": client_id, "client_secret": client_secret,
                               "audience": "https://api.mparticle.com", "grant_type": "client_credentials"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        let url = format!(
            "{}/userprofile/v1/{}/{}/{}/{mpid}?fields=user_identities",
            self.base(),
            self.org["org_id"],
            self.org["account_id"],
            self.org["workspace_id"]
        );
        let (status, profile) =
            read(http().get(url).bearer_auth(token["access_token"].as_str().unwrap()).send().await.unwrap()).await;
        assert_eq!(status, 200, "{profile}");
        profile["consent_state"]["ccpa"]["data_sale_opt_out"]["consented"].clone()
    }

    /// A status object exactly as the platform signed it, and its signature.
    async fn signed_status(&self, subject_request_id: &str) -> (Vec<u8>, String) {
        let (key, secret) = self.pair(&["workspace"]);
        let response = http()
            .get(format!("{}/v3/requests/{subject_request_id}", self.base()))
            .basic_auth(key, Some(secret))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let signature = response.headers()["x-opendsr-signature"].to_str().unwrap().to_owned();
        (response.bytes().await.unwrap().to_vec(), signature)
    }

    fn processor(&self) -> Processor {
        let (workspace_key, workspace_secret) = self.pair(&["workspace"]);
        let (web_key, web_secret) = self.pair(&["inputs", "web"]);
        Processor::new(
            std::sync::Arc::new(Processors::default()),
            custos_rm::domain::connection::Target::BaseUrl(self.base()).endpoints(),
            Credentials { key: workspace_key, secret: workspace_secret },
            Credentials { key: web_key, secret: web_secret },
        )
    }
}

/// Where the Request Manager keeps its data in a test.
#[derive(Clone, Debug)]
enum RmBackend {
    Sqlite,
    Postgres(String),
}

async fn rm_backends() -> Vec<RmBackend> {
    let mut backends = vec![RmBackend::Sqlite];
    match std::env::var(TEST_DATABASE_URL) {
        Ok(url) => backends.push(RmBackend::Postgres(fresh_postgres_schema(&url).await)),
        Err(_) => eprintln!("{TEST_DATABASE_URL} is unset: skipping the PostgreSQL backend"),
    }
    backends
}

/// A `custos rm serve`, its data and its admin token.
struct Rm {
    dir: PathBuf,
    backend: RmBackend,
    port: u16,
    token: String,
    poll_interval: &'static str,
    /// More `serve` options: the workflow's, SMTP.
    extra: Vec<String>,
    server: Option<Process>,
}

impl Rm {
    fn data_args(&self) -> Vec<String> {
        let mut args = vec!["--data-dir".to_owned(), self.dir.display().to_string()];
        if let RmBackend::Postgres(url) = &self.backend {
            args.extend(["--database-url".to_owned(), url.clone()]);
        }
        args
    }

    async fn start(root: &Path, backend: RmBackend, poll_interval: &'static str) -> Rm {
        Rm::start_with(root, backend, poll_interval, &[]).await
    }

    async fn start_with(root: &Path, backend: RmBackend, poll_interval: &'static str, extra: &[&str]) -> Rm {
        let mut rm = Rm {
            dir: root.join("rm"),
            backend,
            port: free_port(),
            token: String::new(),
            poll_interval,
            extra: extra.iter().map(|arg| arg.to_string()).collect(),
            server: None,
        };
        let init = json_stdout(&run_ok(custos().args(["rm", "init", "--json"]).args(rm.data_args())));
        rm.token = init["api_token"].as_str().unwrap().to_owned();
        rm.restart().await;
        rm
    }

    async fn restart(&mut self) {
        let base = format!("http://127.0.0.1:{}", self.port);
        let mut command = custos();
        command
            .args(["rm", "serve"])
            .args(self.data_args())
            .args(["--listen", &format!("127.0.0.1:{}", self.port), "--public-url", &base])
            .args(["--poll-interval", self.poll_interval])
            .args(&self.extra);
        self.server = Some(Process::start(command, self.port, &self.log()).await);
    }

    fn log(&self) -> PathBuf {
        self.dir.with_extension("log")
    }

    fn cli(&self, args: &[&str]) -> Command {
        let mut command = custos();
        command.arg("rm").args(args).args(self.data_args());
        command
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        read(http().post(self.url(path)).bearer_auth(&self.token).json(body).send().await.unwrap()).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        read(http().get(self.url(path)).bearer_auth(&self.token).send().await.unwrap()).await
    }

    async fn connect(&self, platform: &Platform) -> Value {
        let (status, connection) = self.post("/rm/v1/connections", &platform.connection(platform.name)).await;
        assert_eq!(status, 201, "{connection}");
        connection
    }

    async fn create(&self, kind: &str, regulation: &str, email: &str) -> Value {
        let body = json!({"type": kind, "regulation": regulation, "subject": {"email": email}});
        let (status, request) = self.post("/rm/v1/requests", &body).await;
        assert_eq!(status, 201, "{request}");
        request
    }

    /// Polls a request until `done` holds of it.
    async fn wait_for(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let (status, request) = self.get(&format!("/rm/v1/requests/{id}")).await;
            assert_eq!(status, 200, "{request}");
            if done(&request) {
                return request;
            }
            assert!(Instant::now() < deadline, "request never became {what}: {request:#}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the request's jobs are done: `completed`, or, for an
    /// access request whose subject gave an email, `awaiting_delivery`.
    async fn wait_completed(&self, id: &str) -> Value {
        let answered = ["completed", "awaiting_delivery"];
        let request = self
            .wait_for(id, "finished", |r| {
                answered.contains(&r["status"].as_str().unwrap_or("")) || r["status"] == "failed"
            })
            .await;
        assert!(answered.contains(&request["status"].as_str().unwrap()), "{request:#}");
        request
    }
}

fn job<'a>(request: &'a Value, connection: &str) -> &'a Value {
    request["connections"].as_array().unwrap().iter().find(|j| j["connection"] == connection).unwrap()
}

fn audit_events(request: &Value, connection: &str) -> Vec<String> {
    request["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["connection"] == connection)
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect()
}

fn timestamp(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(value.as_str().unwrap(), &Rfc3339).unwrap()
}

/// Every file of a zip, by name.
fn unzip(bytes: &[u8]) -> Vec<(String, String)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut text = String::new();
            file.read_to_string(&mut text).unwrap();
            (file.name().unwrap().into_owned(), text)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn access_opt_out_and_deletion_reach_every_platform() {
    for backend in rm_backends().await {
        let root = tempfile::tempdir().unwrap();
        let eu = Platform::start(root.path(), "eu", &[]).await;
        let us = Platform::start(root.path(), "us", &[]).await;
        eu.ingest(SUBJECT, "eu-checkout").await;
        us.ingest(SUBJECT, "us-signup").await;
        eu.ingest(BYSTANDER, "eu-browse").await;

        let rm = Rm::start(root.path(), backend.clone(), "2s").await;
        let connection = rm.connect(&eu).await;
        assert_eq!(connection["base_url"], eu.base());
        assert!(connection.get("workspace_secret").is_none() && connection.get("web_secret").is_none());
        // The CLI connects the other platform, through the same store.
        let us_connection = us.connection("us");
        let connected = json_stdout(&run_ok(
            rm.cli(&[
                "connect",
                "--json",
                "--name",
                "us",
                "--base-url",
                &us.base(),
                "--workspace-key",
                us_connection["workspace_key"].as_str().unwrap(),
                "--web-key",
                us_connection["web_key"].as_str().unwrap(),
            ])
            .env("CUSTOS_RM_WORKSPACE_SECRET", us_connection["workspace_secret"].as_str().unwrap())
            .env("CUSTOS_RM_WEB_SECRET", us_connection["web_secret"].as_str().unwrap()),
        ));
        assert_eq!(connected["name"], "us");
        let (_, listed) = rm.get("/rm/v1/connections").await;
        assert_eq!(listed["connections"].as_array().unwrap().len(), 2, "{listed}");

        // Access: one package with the subject's events from both platforms.
        let access = rm.create("access", "gdpr", SUBJECT).await;
        assert_eq!(access["status"], "processing");
        assert_eq!(access["connections"].as_array().unwrap().len(), 2);
        let received = timestamp(&access["received_at"]);
        let deadline = timestamp(&access["deadline"]);
        assert!(deadline - received >= time::Duration::days(28) && deadline - received <= time::Duration::days(31));
        let id = access["id"].as_str().unwrap();
        let done = rm.wait_completed(id).await;
        assert_eq!(done["overdue"], false);
        for connection in ["eu", "us"] {
            assert_eq!(job(&done, connection)["status"], "completed", "{done:#}");
            assert_eq!(job(&done, connection)["has_results"], true);
            assert!(audit_events(&done, connection).iter().any(|e| e.starts_with("results downloaded")));
        }
        let response =
            http().get(rm.url(&format!("/rm/v1/requests/{id}/results"))).bearer_auth(&rm.token).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/zip");
        let files = unzip(&response.bytes().await.unwrap());
        let text_under = |folder: &str| {
            files
                .iter()
                .filter(|(name, _)| name.starts_with(&format!("{folder}/")))
                .map(|(_, t)| t.as_str())
                .collect::<String>()
        };
        assert!(text_under("eu").contains("eu-checkout"), "{files:?}");
        assert!(text_under("us").contains("us-signup"), "{files:?}");
        assert!(!text_under("eu").contains("eu-browse"), "another subject's events leaked");
        let manifest: Value =
            serde_json::from_str(&files.iter().find(|(n, _)| n == "manifest.json").unwrap().1).unwrap();
        assert_eq!(manifest["request_id"], id);
        // The CLI writes the same package.
        let package = root.path().join("package.zip");
        run_ok(rm.cli(&["request", "results", id, "--output", package.to_str().unwrap()]));
        assert!(unzip(&std::fs::read(&package).unwrap()).iter().any(|(_, text)| text.contains("us-signup")));

        // Opt-out (CCPA do not sell or share), made with the CLI: visible in both profiles.
        let created = json_stdout(&run_ok(rm.cli(&[
            "request",
            "create",
            "--json",
            "--type",
            "opt_out",
            "--regulation",
            "ccpa",
            "--email",
            SUBJECT,
        ])));
        let opt_out_id = created["id"].as_str().unwrap().to_owned();
        assert_eq!(timestamp(&created["deadline"]) - timestamp(&created["received_at"]), time::Duration::days(45));
        rm.wait_completed(&opt_out_id).await;
        for platform in [&eu, &us] {
            let mpid = platform.search(SUBJECT).await.unwrap();
            assert_eq!(platform.sale_opt_out(&mpid).await, true, "{}", platform.name);
        }
        let shown = String::from_utf8(run_ok(rm.cli(&["request", "show", &opt_out_id])).stdout).unwrap();
        assert!(shown.contains("completed") && shown.contains("opt-out consent sent"), "{shown}");

        // Deletion: afterwards neither platform can find the subject; others are untouched.
        let deletion = rm.create("deletion", "gdpr", SUBJECT).await;
        let deletion_id = deletion["id"].as_str().unwrap();
        let deleted = rm.wait_completed(deletion_id).await;
        for platform in [&eu, &us] {
            assert_eq!(platform.search(SUBJECT).await, None, "{} still finds the subject", platform.name);
        }
        assert!(eu.search(BYSTANDER).await.is_some());
        for connection in ["eu", "us"] {
            let events = audit_events(&deleted, connection);
            assert_eq!(
                events.iter().filter(|e| e.as_str() == "submitted the erasure request").count(),
                1,
                "{events:?}"
            );
        }
        // A subject no platform knows has no data anywhere.
        let nobody = rm.create("deletion", "gdpr", "nobody@example.com").await;
        let nobody = rm.wait_completed(nobody["id"].as_str().unwrap()).await;
        assert!(nobody["connections"].as_array().unwrap().iter().all(|j| j["status"] == "no_data"), "{nobody:#}");

        // The access request waits for its subject to download the package.
        let (_, completed) = rm.get("/rm/v1/requests?status=completed").await;
        assert_eq!(completed["requests"].as_array().unwrap().len(), 3);
        let listed = json_stdout(&run_ok(rm.cli(&["request", "list", "--json", "--status", "awaiting_delivery"])));
        assert_eq!(listed["requests"].as_array().unwrap().len(), 1);
        let (_, stats) = rm.get("/rm/v1/stats").await;
        assert!(stats["apis"]["dsr"]["calls"].as_u64().unwrap() > 0, "{stats}");

        // Nothing personal in the audit trails, the logs, or the store's file; no secret in clear.
        for id in [id, &opt_out_id, deletion_id] {
            let (_, request) = rm.get(&format!("/rm/v1/requests/{id}")).await;
            assert!(!request.to_string().contains(SUBJECT), "{request}");
        }
        let log = std::fs::read_to_string(rm.log()).unwrap();
        assert!(log.contains("job step recorded") && !log.contains(SUBJECT));
        if let RmBackend::Sqlite = backend {
            let mut stored = Vec::new();
            for entry in std::fs::read_dir(&rm.dir).unwrap() {
                stored.extend(std::fs::read(entry.unwrap().path()).unwrap());
            }
            let stored = String::from_utf8_lossy(&stored);
            assert!(!stored.contains(SUBJECT), "the subject's email is stored in clear");
            for secret in [&eu.connection("eu")["workspace_secret"], &us.connection("us")["web_secret"]] {
                assert!(!stored.contains(secret.as_str().unwrap()), "a connection secret is stored in clear");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_secret_is_refused_saying_which_credential_and_what_to_do() {
    let root = tempfile::tempdir().unwrap();
    let eu = Platform::start(root.path(), "eu", &[]).await;
    let rm = Rm::start(root.path(), RmBackend::Sqlite, "10m").await;

    let mut wrong_workspace = eu.connection("eu");
    wrong_workspace["workspace_secret"] = json!("not-the-secret");
    let (status, body) = rm.post("/rm/v1/connections", &wrong_workspace).await;
    assert_eq!(status, 422, "{body}");
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "only the workspace credential failed: {body}");
    assert_eq!(
        (&errors[0]["credential"], &errors[0]["api"], &errors[0]["status"]),
        (&json!("workspace"), &json!("dsr"), &json!(401))
    );
    let message = errors[0]["message"].as_str().unwrap();
    assert!(
        message.contains("Data Subject Request API") && message.contains("refused the workspace key and secret"),
        "{message}"
    );
    let remedy = errors[0]["remedy"].as_str().unwrap();
    assert!(
        remedy.contains("permissions") && remedy.contains("Admin user role") && remedy.contains("Workspace Secret"),
        "{remedy}"
    );
    assert!(!body.to_string().contains("not-the-secret"));

    let mut wrong_web = eu.connection("eu");
    wrong_web["web_secret"] = json!("not-the-secret");
    let (status, body) = rm.post("/rm/v1/connections", &wrong_web).await;
    assert_eq!(status, 422, "{body}");
    let failed: Vec<(&str, &str)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["credential"].as_str().unwrap(), e["api"].as_str().unwrap()))
        .collect();
    assert_eq!(failed, [("web", "identity"), ("web", "events")]);
    assert!(body["errors"][0]["remedy"].as_str().unwrap().contains("Web Key and Web Secret"));

    // The CLI says the same, and exits with an error.
    let output = run(rm.cli(&[
        "connect",
        "--name",
        "eu",
        "--base-url",
        &eu.base(),
        "--workspace-key",
        wrong_workspace["workspace_key"].as_str().unwrap(),
        "--workspace-secret",
        "not-the-secret",
        "--web-key",
        wrong_workspace["web_key"].as_str().unwrap(),
        "--web-secret",
        wrong_workspace["web_secret"].as_str().unwrap(),
    ]));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refused the workspace key and secret: HTTP 401") && stderr.contains("Admin user role"),
        "{stderr}"
    );

    let (_, listed) = rm.get("/rm/v1/connections").await;
    assert_eq!(listed, json!({"connections": []}), "nothing was saved");
    // The right secrets connect, once; a removed connection can be made again.
    let connection = rm.connect(&eu).await;
    let (status, _) = rm.post("/rm/v1/connections", &eu.connection("eu")).await;
    assert_eq!(status, 409);
    let remove = |id: &Value| http().delete(rm.url(&format!("/rm/v1/connections/{id}"))).bearer_auth(&rm.token).send();
    assert_eq!(remove(&connection["id"]).await.unwrap().status(), 204);
    assert_eq!(remove(&connection["id"]).await.unwrap().status(), 404);
    assert_eq!(rm.get("/rm/v1/connections").await.1, json!({"connections": []}));
    rm.connect(&eu).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_platform_is_waited_for_not_hammered() {
    let root = tempfile::tempdir().unwrap();
    // Ten DSR calls a minute: a burst of ten, then one every 6 s.
    let eu = Platform::start(root.path(), "eu", &["--dsr-requests-per-minute", "10"]).await;
    let subjects: Vec<String> = (0..12).map(|n| format!("throttled-{n}@example.com")).collect();
    for subject in &subjects {
        eu.ingest(subject, "eu-checkout").await;
    }
    let rm = Rm::start(root.path(), RmBackend::Sqlite, "10m").await;
    rm.connect(&eu).await;
    let mut ids = Vec::new();
    for subject in &subjects {
        ids.push(rm.create("deletion", "gdpr", subject).await["id"].as_str().unwrap().to_owned());
    }
    let mut retry_delays = Vec::new();
    for id in &ids {
        let done = rm.wait_completed(id).await;
        for event in audit_events(&done, "eu") {
            if event.contains("HTTP 429") {
                let delay = event.rsplit("retrying in ").next().unwrap().trim_end_matches('s');
                retry_delays.push(delay.parse::<f64>().unwrap());
            }
        }
    }
    for subject in &subjects {
        assert_eq!(eu.search(subject).await, None);
    }
    let (_, stats) = rm.get("/rm/v1/stats").await;
    let throttled = stats["apis"]["dsr"]["throttled"].as_u64().unwrap();
    assert!(throttled >= 1, "the limit was met: {stats}");
    // A 429 holds every call back for its Retry-After: a few 429s (about one per
    // Retry-After, about five here), not one per queued call and retry.
    assert!(throttled <= 10, "{stats}");
    assert!(
        !retry_delays.is_empty() && retry_delays.iter().all(|d| *d >= 5.0),
        "Retry-After honoured: {retry_delays:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_callbacks_are_refused_and_change_nothing() {
    let root = tempfile::tempdir().unwrap();
    // Erasures stay pending for an hour, so the job waits on the processor.
    let eu = Platform::start(root.path(), "eu", &["--skipped-waiting-period", "1h"]).await;
    eu.ingest(SUBJECT, "eu-checkout").await;
    let rm = Rm::start(root.path(), RmBackend::Sqlite, "10m").await;
    rm.connect(&eu).await;
    let deletion = rm.create("deletion", "gdpr", SUBJECT).await;
    let id = deletion["id"].as_str().unwrap();
    let waiting = rm.wait_for(id, "submitted", |r| job(r, "eu")["step"] == "waiting").await;
    let subject_request_id = job(&waiting, "eu")["subject_request_id"].as_str().unwrap().to_owned();
    // Let the platform's own callbacks (pending) land first.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, before) = rm.get(&format!("/rm/v1/requests/{id}")).await;
    let (status, body) = rm.get(&format!("/rm/v1/requests/{id}/results")).await;
    assert_eq!(status, 409, "only completed access requests have results: {body}");

    let (genuine, signature) = eu.signed_status(&subject_request_id).await;
    let text = String::from_utf8(genuine.clone()).unwrap();
    assert!(text.contains("\"pending\""), "{text}");
    let forged = text.replace("\"pending\"", "\"completed\"");
    let callbacks = rm.url("/rm/v1/callbacks/opendsr");
    let send = |body: String, signature: Option<String>| {
        let callbacks = callbacks.clone();
        async move {
            let mut request = http().post(callbacks).header("content-type", "application/json").body(body);
            if let Some(signature) = signature {
                request =
                    request.header("X-OpenDSR-Signature", signature).header("X-OpenDSR-Processor-Domain", "127.0.0.1");
            }
            request.send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(send(forged.clone(), None).await, 401, "unsigned");
    assert_eq!(send(forged.clone(), Some("bm90IGEgc2lnbmF0dXJl".into())).await, 401, "garbage signature");
    assert_eq!(send(forged.clone(), Some(signature.clone())).await, 401, "a genuine signature over another body");
    let (_, after) = rm.get(&format!("/rm/v1/requests/{id}")).await;
    assert_eq!(after["status"], "processing");
    assert_eq!(job(&after, "eu")["step"], "waiting");
    assert_eq!(after["audit"], before["audit"], "a refused callback leaves no trace");

    // The genuine callback is accepted (and, still pending, changes no state).
    assert_eq!(send(text, Some(signature)).await, 202);
    let (_, accepted) = rm.get(&format!("/rm/v1/requests/{id}")).await;
    assert_eq!(job(&accepted, "eu")["step"], "waiting");

    // A request received 40 days ago is past its GDPR deadline.
    let body = json!({"type": "access", "regulation": "gdpr", "subject": {"email": BYSTANDER},
        "received_at": (OffsetDateTime::now_utc() - time::Duration::days(40)).format(&Rfc3339).unwrap()});
    let (status, late) = rm.post("/rm/v1/requests", &body).await;
    assert_eq!(status, 201, "{late}");
    assert_eq!(late["overdue"], true);
    let (_, overdue) = rm.get("/rm/v1/requests?overdue=true").await;
    let ids: Vec<&str> = overdue["requests"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [late["id"].as_str().unwrap()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_request_manager_resumes_and_completes() {
    for backend in rm_backends().await {
        let root = tempfile::tempdir().unwrap();
        // The EU erasure takes a few seconds, so the kill lands while it is pending there.
        let eu = Platform::start(root.path(), "eu", &["--skipped-waiting-period", "4s"]).await;
        let mut us = Platform::start(root.path(), "us", &[]).await;
        eu.ingest(SUBJECT, "eu-checkout").await;
        us.ingest(SUBJECT, "us-signup").await;
        let mut rm = Rm::start(root.path(), backend, "1s").await;
        rm.connect(&eu).await;
        rm.connect(&us).await;

        // The US platform goes down before the request arrives.
        us.stop();
        let deletion = rm.create("deletion", "gdpr", SUBJECT).await;
        let id = deletion["id"].as_str().unwrap();
        let midway = rm
            .wait_for(id, "submitted at eu and retrying at us", |r| {
                job(r, "eu")["step"] == "waiting" && job(r, "us")["attempts"].as_u64().unwrap_or(0) >= 1
            })
            .await;
        assert!(job(&midway, "us")["last_error"].as_str().unwrap().contains("could not reach"), "{midway:#}");
        rm.server.as_mut().unwrap().kill_9();

        us.restart().await;
        // The EU platform finishes while the Request Manager is down; its callbacks fail meanwhile.
        tokio::time::sleep(Duration::from_secs(5)).await;
        rm.restart().await;
        let done = rm.wait_completed(id).await;
        for (platform, connection) in [(&eu, "eu"), (&us, "us")] {
            assert_eq!(platform.search(SUBJECT).await, None, "{connection} still finds the subject");
            let events = audit_events(&done, connection);
            assert_eq!(
                events.iter().filter(|e| e.as_str() == "submitted the erasure request").count(),
                1,
                "{events:?}"
            );
            assert!(events.last().unwrap().contains("processor status: completed"), "{events:?}");
        }
        assert!(audit_events(&done, "us").iter().any(|e| e.contains("retrying in")));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_subject_request_is_never_submitted_twice() {
    let root = tempfile::tempdir().unwrap();
    let eu = Platform::start(root.path(), "eu", &["--skipped-waiting-period", "1h"]).await;
    eu.ingest(SUBJECT, "eu-checkout").await;
    let processor = eu.processor();
    let subject = Subject { email: Some(SUBJECT.into()), ..Subject::default() };
    let id = uuid_v4();
    let body = request_body(&id, RequestKind::Deletion, Regulation::Gdpr, &subject, OffsetDateTime::now_utc(), None);
    assert_eq!(processor.submit(&body).await, Ok(Submission::Submitted));
    // A retry after a lost answer: the processor recognises the id.
    assert_eq!(processor.submit(&body).await, Ok(Submission::AlreadySubmitted));
    // Another id for the same subject while the first is open: an overlap, not a second request.
    let other =
        request_body(&uuid_v4(), RequestKind::Deletion, Regulation::Gdpr, &subject, OffsetDateTime::now_utc(), None);
    assert_eq!(processor.submit(&other).await, Ok(Submission::Overlapping));
    assert_eq!(processor.status(&id).await.unwrap().subject_request_id, id);
}

fn uuid_v4() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A real SMTP server: Python's `aiosmtpd`, from the venv that
/// `scripts/install-test-deps` makes, storing each message in a maildir.
struct Smtp {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl Smtp {
    /// The server, or `None` (after saying why) when the venv is missing and
    /// not required; panics when `CUSTOS_REAL_CLIENTS=required`.
    async fn start(root: &Path) -> Option<Smtp> {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let python = repo.join("target/clients-venv/bin/python");
        let installed =
            Command::new(&python).args(["-c", "import aiosmtpd"]).output().is_ok_and(|o| o.status.success());
        if !installed {
            let message =
                format!("the SMTP tests need aiosmtpd in {}: run scripts/install-test-deps", python.display());
            if std::env::var("CUSTOS_REAL_CLIENTS").as_deref() == Ok("required") {
                panic!("{message} (CUSTOS_REAL_CLIENTS=required)");
            }
            eprintln!("SKIPPED: {message}");
            return None;
        }
        let port = free_port();
        let maildir = root.join("maildir");
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(Smtp { child, port, maildir })
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received, as its raw text.
    fn messages(&self) -> Vec<String> {
        let mut messages = Vec::new();
        for folder in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.maildir.join(folder)) else { continue };
            for entry in entries {
                messages.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
            }
        }
        messages
    }

    /// The messages to `to` whose subject is `subject`.
    fn received(&self, to: &str, subject: &str) -> Vec<String> {
        self.messages()
            .into_iter()
            .filter(|m| m.contains(&format!("To: {to}")) && m.contains(&format!("Subject: {subject}")))
            .collect()
    }

    /// Waits for the `n`th message to `to` with `subject`.
    async fn wait_for(&self, to: &str, subject: &str, n: usize) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let mut messages = self.received(to, subject);
            if messages.len() >= n {
                messages.sort();
                return messages.swap_remove(n - 1);
            }
            assert!(Instant::now() < deadline, "no message {subject:?} to {to}; got {:#?}", self.messages());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The one link of a message: its only URL.
fn only_link(message: &str) -> String {
    let links: Vec<&str> = message.split_whitespace().filter(|word| word.contains("://")).collect();
    assert_eq!(links.len(), 1, "{message}");
    links[0].to_owned()
}

/// A subject's browser: no cookies, no redirects followed.
fn subject_browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn today() -> String {
    OffsetDateTime::now_utc().date().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn subjects_verify_by_email_and_download_what_was_approved_denials_and_extensions_are_told() {
    for backend in rm_backends().await {
        let root = tempfile::tempdir().unwrap();
        let Some(smtp) = Smtp::start(root.path()).await else { return };
        let eu = Platform::start(root.path(), "eu", &[]).await;
        eu.ingest(SUBJECT, "eu-checkout").await;
        let smtp_url = smtp.url();
        let options = [
            "--smtp-url",
            &smtp_url,
            "--mail-from",
            "privacy@rm.test",
            "--verify",
            "gdpr",
            "--require-approval",
            "access,deletion",
        ];
        let rm = Rm::start_with(root.path(), backend.clone(), "2s", &options).await;
        rm.connect(&eu).await;

        // Access, verified by the subject through the emailed link.
        let access = rm.create("access", "gdpr", SUBJECT).await;
        let id = access["id"].as_str().unwrap().to_owned();
        assert_eq!(access["status"], "verifying", "{access:#}");
        let link = only_link(&smtp.wait_for(SUBJECT, "Confirm your privacy request", 1).await);
        assert!(link.starts_with(&rm.url("/verify/")), "{link}");
        let subject = subject_browser();
        let page = subject.get(&link).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("Confirm"));
        assert_eq!(rm.get(&format!("/rm/v1/requests/{id}")).await.1["status"], "verifying", "a GET confirms nothing");
        assert_eq!(subject.post(&link).send().await.unwrap().status(), 200);
        rm.wait_for(&id, "awaiting approval", |r| r["status"] == "awaiting_approval").await;

        // Approved from the command line; it runs, and the package goes to the subject.
        let approved = json_stdout(&run_ok(rm.cli(&["request", "approve", "--json", &id])));
        assert_eq!(approved["results"][0]["status"], "processing", "{approved}");
        rm.wait_for(&id, "awaiting delivery", |r| r["status"] == "awaiting_delivery").await;
        let delivery = smtp.wait_for(SUBJECT, "Your personal data is ready to download", 1).await;
        let download = only_link(&delivery);
        assert!(download.starts_with(&rm.url("/download/")), "{download}");
        assert_eq!(subject.get(&download).send().await.unwrap().status(), 200);
        for n in 1..=3 {
            let response = subject.post(&download).send().await.unwrap();
            assert_eq!(response.status(), 200, "download {n}");
            assert_eq!(response.headers()["content-type"], "application/zip");
            let files = unzip(&response.bytes().await.unwrap());
            assert!(files.iter().any(|(_, text)| text.contains("eu-checkout")), "{files:?}");
        }
        assert_eq!(subject.post(&download).send().await.unwrap().status(), 410, "a fourth download");
        assert_eq!(subject.get(&download).send().await.unwrap().status(), 410);
        let done = rm.wait_completed(&id).await;
        assert_eq!(done["status"], "completed");
        let downloads =
            done["audit"].as_array().unwrap().iter().filter(|e| e["event"] == "the subject downloaded the package");
        assert_eq!(downloads.count(), 3);
        // Operators can download it too, audited.
        let response =
            http().get(rm.url(&format!("/rm/v1/requests/{id}/results"))).bearer_auth(&rm.token).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let (_, shown) = rm.get(&format!("/rm/v1/requests/{id}")).await;
        assert!(shown["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "an operator downloaded the package" && e["actor"] == "token init"));

        // A deletion denied with a reason: the subject's email says why.
        let body = json!({"type": "deletion", "regulation": "gdpr", "verify": false, "subject": {"email": SUBJECT}});
        let (status, deletion) = rm.post("/rm/v1/requests", &body).await;
        assert_eq!((status, &deletion["status"]), (201, &json!("awaiting_approval")), "{deletion}");
        let deletion_id = deletion["id"].as_str().unwrap();
        let reason = "We could not match this address to an account.";
        let (status, denied) =
            rm.post(&format!("/rm/v1/requests/{deletion_id}/deny"), &json!({"reason": reason})).await;
        assert_eq!((status, &denied["status"]), (200, &json!("denied")), "{denied}");
        let told = smtp.wait_for(SUBJECT, "Your privacy request was declined", 1).await;
        assert!(told.contains(reason), "{told}");
        assert!(!told.contains("://"), "no link in a denial: {told}");
        assert!(eu.search(SUBJECT).await.is_some(), "nothing was deleted");

        // An extension, from the command line, recorded and told.
        let ccpa = rm.create("access", "ccpa", SUBJECT).await;
        let ccpa_id = ccpa["id"].as_str().unwrap();
        let extended = json_stdout(&run_ok(rm.cli(&[
            "request",
            "extend",
            "--json",
            ccpa_id,
            "--days",
            "30",
            "--reason",
            "Several systems hold this data.",
        ])));
        assert_eq!(
            timestamp(&extended["extended_deadline"]) - timestamp(&extended["deadline"]),
            time::Duration::days(30)
        );
        let told = smtp.wait_for(SUBJECT, "Your privacy request needs more time", 1).await;
        assert!(told.contains("Several systems hold this data."), "{told}");
        let output = run(rm.cli(&["request", "extend", ccpa_id, "--days", "5", "--reason", "again"]));
        assert!(!output.status.success() && String::from_utf8_lossy(&output.stderr).contains("already extended"));

        // The report: every request of the day, no personal data.
        let report =
            String::from_utf8(run_ok(rm.cli(&["request", "export-csv", "--from", &today(), "--to", &today()])).stdout)
                .unwrap();
        let lines: Vec<&str> = report.lines().collect();
        assert_eq!(lines[0], "id,type,regulation,received,deadline,extended,completed,outcome,days_taken");
        assert_eq!(lines.len(), 4, "{report}");
        assert!(lines.iter().any(|l| l.starts_with(&id) && l.contains(",completed,")), "{report}");
        assert!(lines.iter().any(|l| l.starts_with(deletion_id) && l.contains(",denied,")), "{report}");
        assert!(!report.contains(SUBJECT) && !report.contains(reason));
        let csv = http()
            .get(rm.url(&format!("/rm/v1/requests.csv?from={}&to={}", today(), today())))
            .bearer_auth(&rm.token)
            .send()
            .await
            .unwrap();
        assert_eq!(csv.status(), 200);
        assert_eq!(csv.text().await.unwrap(), report);
        let log = std::fs::read_to_string(rm.log()).unwrap();
        assert!(!log.contains(SUBJECT), "the subject's email in the log");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_manager_killed_in_each_new_state_resumes_it() {
    for backend in rm_backends().await {
        let root = tempfile::tempdir().unwrap();
        let Some(smtp) = Smtp::start(root.path()).await else { return };
        let eu = Platform::start(root.path(), "eu", &[]).await;
        eu.ingest(SUBJECT, "eu-checkout").await;
        let workflow = ["--verify", "gdpr", "--require-approval", "access"];
        // First without SMTP: the verification email waits in the outbox.
        let mut rm = Rm::start_with(root.path(), backend.clone(), "2s", &workflow).await;
        rm.connect(&eu).await;
        let access = rm.create("access", "gdpr", SUBJECT).await;
        let id = access["id"].as_str().unwrap().to_owned();
        let (_, outbox) = rm.get("/rm/v1/outbox").await;
        assert_eq!(outbox["smtp"], false);
        assert_eq!(outbox["messages"][0]["kind"], "verification", "{outbox}");
        rm.server.as_mut().unwrap().kill_9();

        // Verifying, mail in the outbox: sent once SMTP is there.
        let smtp_url = smtp.url();
        let with_smtp: Vec<&str> =
            workflow.iter().copied().chain(["--smtp-url", &smtp_url, "--mail-from", "privacy@rm.test"]).collect();
        rm.extra = with_smtp.iter().map(|arg| arg.to_string()).collect();
        rm.restart().await;
        let link = only_link(&smtp.wait_for(SUBJECT, "Confirm your privacy request", 1).await);
        assert_eq!(rm.get(&format!("/rm/v1/requests/{id}")).await.1["status"], "verifying");
        assert_eq!(subject_browser().post(&link).send().await.unwrap().status(), 200);
        rm.wait_for(&id, "awaiting approval", |r| r["status"] == "awaiting_approval").await;

        // Awaiting approval.
        rm.server.as_mut().unwrap().kill_9();
        rm.restart().await;
        assert_eq!(rm.get(&format!("/rm/v1/requests/{id}")).await.1["status"], "awaiting_approval");
        let (status, approved) = rm.post(&format!("/rm/v1/requests/{id}/approve"), &json!({})).await;
        assert_eq!(status, 200, "{approved}");

        // Awaiting delivery: killed as soon as it gets there, the link goes out after the restart, once.
        rm.wait_for(&id, "awaiting delivery", |r| r["status"] == "awaiting_delivery").await;
        rm.server.as_mut().unwrap().kill_9();
        rm.restart().await;
        let download = only_link(&smtp.wait_for(SUBJECT, "Your personal data is ready to download", 1).await);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(smtp.received(SUBJECT, "Your personal data is ready to download").len(), 1);
        assert_eq!(subject_browser().post(&download).send().await.unwrap().status(), 200);
        rm.wait_for(&id, "completed", |r| r["status"] == "completed").await;

        // A verification link that expires while the service is down: unverified at the restart, the subject told.
        rm.extra.extend(["--verification-expiry".to_owned(), "2s".to_owned()]);
        rm.server.as_mut().unwrap().terminate();
        rm.restart().await;
        let expiring = rm.create("access", "gdpr", BYSTANDER).await;
        let expiring_id = expiring["id"].as_str().unwrap().to_owned();
        smtp.wait_for(BYSTANDER, "Confirm your privacy request", 1).await;
        rm.server.as_mut().unwrap().kill_9();
        tokio::time::sleep(Duration::from_secs(3)).await;
        rm.restart().await;
        rm.wait_for(&expiring_id, "unverified", |r| r["status"] == "unverified").await;
        smtp.wait_for(BYSTANDER, "Your privacy request was closed", 1).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_custos_platforms_certificate_is_pinned_and_a_rotated_one_accepted_only_by_a_recheck() {
    let root = tempfile::tempdir().unwrap();
    let mut eu = Platform::start(root.path(), "eu", &["--skipped-waiting-period", "1h"]).await;
    eu.ingest(SUBJECT, "eu-checkout").await;
    let rm = Rm::start(root.path(), RmBackend::Sqlite, "10m").await;
    let connection = rm.connect(&eu).await;
    let pinned = connection["certificate_sha256"].as_str().unwrap().to_owned();
    assert_eq!(pinned.len(), 95, "{connection}");
    let deletion = rm.create("deletion", "gdpr", SUBJECT).await;
    let id = deletion["id"].as_str().unwrap();
    let waiting = rm.wait_for(id, "submitted", |r| job(r, "eu")["step"] == "waiting").await;
    let subject_request_id = job(&waiting, "eu")["subject_request_id"].as_str().unwrap().to_owned();
    let callback = |(body, signature): (Vec<u8>, String)| {
        http()
            .post(rm.url("/rm/v1/callbacks/opendsr"))
            .header("content-type", "application/json")
            .header("X-OpenDSR-Signature", signature)
            .body(body)
            .send()
    };
    assert_eq!(callback(eu.signed_status(&subject_request_id).await).await.unwrap().status(), 202);

    // The platform rotates its signing certificate: its signatures are refused until a re-check.
    let (certificate, key) = (root.path().join("rotated.pem"), root.path().join("rotated.key"));
    run_ok(
        Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=eu"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&certificate),
    );
    eu.stop();
    eu.extra.extend(["--processor-certificate".to_owned(), certificate.display().to_string()]);
    eu.extra.extend(["--processor-key".to_owned(), key.display().to_string()]);
    eu.restart().await;
    assert_eq!(callback(eu.signed_status(&subject_request_id).await).await.unwrap().status(), 401);
    let (status, rechecked) = rm.post(&format!("/rm/v1/connections/{}/recheck", connection["id"]), &json!({})).await;
    assert_eq!(status, 200, "{rechecked}");
    assert_eq!(
        (&rechecked["certificate_rotated"], &rechecked["previous_certificate_sha256"]),
        (&json!(true), &json!(pinned))
    );
    let openssl =
        run_ok(Command::new("openssl").args(["x509", "-noout", "-fingerprint", "-sha256", "-in"]).arg(&certificate));
    let printed = String::from_utf8(openssl.stdout).unwrap();
    assert!(printed.trim().ends_with(rechecked["certificate_sha256"].as_str().unwrap()), "{printed} {rechecked}");
    assert_eq!(callback(eu.signed_status(&subject_request_id).await).await.unwrap().status(), 202);
    // The command line re-checks too; nothing rotated since.
    let again = json_stdout(&run_ok(rm.cli(&["recheck", "--json", &connection["id"].to_string()])));
    assert_eq!(again["certificate_sha256"], rechecked["certificate_sha256"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn people_and_scoped_tokens_are_managed_from_the_command_line() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("rm");
    let public_url = "https://rm.example.com";
    let init = json_stdout(&run_ok(custos().args(["rm", "init", "--json", "--data-dir"]).arg(&dir).args([
        "--admin-email",
        "Admin@Example.com",
        "--public-url",
        public_url,
    ])));
    assert_eq!(init["console"]["email"], "admin@example.com");
    let invite = init["console"]["invite_url"].as_str().unwrap();
    assert!(invite.starts_with(&format!("{public_url}/invite/")), "{init}");
    let cli = |args: &[&str]| {
        let mut command = custos();
        command.arg("rm").args(args).arg("--data-dir").arg(&dir);
        command
    };
    let invited = json_stdout(&run_ok(
        cli(&["users", "invite", "--json", "--email", "viewer@example.com", "--role", "viewer"])
            .env("CUSTOS_RM_PUBLIC_URL", public_url),
    ));
    assert!(invited["invite_url"].as_str().unwrap().starts_with(&format!("{public_url}/invite/")), "{invited}");
    let output = run(cli(&["users", "invite", "--email", "x@example.com", "--role", "admin"]));
    assert!(!output.status.success() && String::from_utf8_lossy(&output.stderr).contains("is not a role"));
    let users = json_stdout(&run_ok(cli(&["users", "list", "--json"])));
    let roles: Vec<(&str, &str)> = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["email"].as_str().unwrap(), u["role"].as_str().unwrap()))
        .collect();
    assert_eq!(roles, [("admin@example.com", "super_admin"), ("viewer@example.com", "viewer")]);
    let reset = json_stdout(&run_ok(cli(&["users", "reset-password", "--json", "--email", "viewer@example.com"])));
    assert!(reset["reset_url"].as_str().unwrap().contains("/invite/"));
    let output = run(cli(&["users", "remove", "--email", "admin@example.com"]));
    assert!(!output.status.success(), "the last Super Admin stays");
    run_ok(cli(&["users", "remove", "--email", "viewer@example.com"]));

    // A Viewer token reads, and changes nothing.
    let viewer = json_stdout(&run_ok(cli(&["tokens", "create", "--role", "viewer", "--name", "auditor", "--json"])));
    assert_eq!((&viewer["name"], &viewer["role"]), (&json!("auditor"), &json!("viewer")));
    let port = free_port();
    let mut serve = custos();
    serve.args(["rm", "serve", "--data-dir"]).arg(&dir).args(["--listen", &format!("127.0.0.1:{port}")]);
    let server = Process::start(serve, port, &root.path().join("rm.log")).await;
    let token = viewer["api_token"].as_str().unwrap();
    let (status, me) =
        read(http().get(format!("{}/rm/v1/me", server.base)).bearer_auth(token).send().await.unwrap()).await;
    assert_eq!((status, &me["actor"]), (200, &json!("token auditor")));
    let body = json!({"type": "access", "regulation": "gdpr", "subject": {"email": SUBJECT}});
    let (status, refused) = read(
        http().post(format!("{}/rm/v1/requests", server.base)).bearer_auth(token).json(&body).send().await.unwrap(),
    )
    .await;
    assert_eq!((status, &refused["errors"][0]["permission"]), (403, &json!("requests:create")), "{refused}");
    // The console's pages are served: sign-in, and the invite link's page under this listener.
    let login = http().get(format!("{}/login", server.base)).send().await.unwrap();
    assert_eq!(login.status(), 200);
    let path = invite.trim_start_matches(public_url);
    assert_eq!(http().get(format!("{}{path}", server.base)).send().await.unwrap().status(), 200);
    let (_, log) =
        read(http().get(format!("{}/rm/v1/audit", server.base)).bearer_auth(token).send().await.unwrap()).await;
    let events: Vec<&str> = log["entries"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert!(events.contains(&"issued the API token auditor as Viewer"), "{events:?}");
}
