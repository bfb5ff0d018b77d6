//! The official mParticle clients, unmodified, against a running `custos serve`.
//!
//! Each test starts a fresh server, runs one client script from `clients/`
//! (the Python server SDK, the Node SDK, or the Web SDK in headless Chromium),
//! then checks through custos's own APIs that what the client sent arrived:
//! the counts of `custos stats`, the identities (Identity API search) and the
//! profiles read back through the Profile API.
//!
//! The clients are installed by `scripts/install-test-deps`. When they are
//! missing, the tests skip, unless `CUSTOS_REAL_CLIENTS=required` (as
//! `scripts/test` sets), when they fail.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The longest any one wait may take: server start, a stats count, a request.
const WAIT: Duration = Duration::from_secs(60);
/// The longest a client script may run (the web one starts a browser).
const CLIENT_WAIT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------
// The tests.

#[test]
fn python_server_sdk_uploads_single_and_bulk_batches() {
    let Some(tools) = ClientTools::find(Client::Python) else {
        return;
    };
    let custos = Custos::start();
    let server = &custos.org["inputs"]["server"];
    let report = run_client(
        tools.command(Client::Python).arg(&custos.base).arg(string(&server["key"])).arg(string(&server["secret"])),
        "python_sdk.py",
    );
    check_server_sdk_report(&custos, &report, "upload_events_with_http_info");
}

#[test]
fn node_sdk_uploads_single_and_bulk_batches() {
    let Some(tools) = ClientTools::find(Client::Node) else {
        return;
    };
    let custos = Custos::start();
    let server = &custos.org["inputs"]["server"];
    let report = run_client(
        tools.command(Client::Node).arg(&custos.base).arg(string(&server["key"])).arg(string(&server["secret"])),
        "node_sdk.js",
    );
    check_server_sdk_report(&custos, &report, "uploadEvents");
}

#[test]
fn web_sdk_in_chromium_identifies_uploads_and_follows_the_default_strategy() {
    let Some(tools) = ClientTools::find(Client::Web) else {
        return;
    };
    let custos = Custos::start();
    let web = &custos.org["inputs"]["web"];
    let report = run_client(tools.command(Client::Web).arg(&custos.base).arg(string(&web["key"])), "web_sdk.mjs");
    let context = format!("web SDK report: {report:#}");
    let results = &report["results"];
    let identities = &report["identities"];

    // Every identity call answered 200, with the MPIDs of the default strategy.
    for call in ["identify", "login", "modify", "search", "logout", "login_new_customer_id"] {
        assert_eq!(results[call]["httpCode"], 200, "{call}: {context}");
    }
    let known = string(&results["identify"]["mpid"]).to_owned();
    assert!(known.parse::<i64>().is_ok(), "an MPID is a signed 64-bit integer in a string: {known}");
    assert_eq!(results["identify"]["body"]["is_logged_in"], true, "identify with a customer ID: {context}");
    assert_eq!(
        results["login"]["mpid"],
        known.as_str(),
        "login with the profile's customer ID keeps the MPID: {context}"
    );
    assert_eq!(results["login"]["body"]["is_logged_in"], true, "{context}");
    assert_eq!(results["modify"]["mpid"], known.as_str(), "modify keeps the MPID: {context}");
    assert_eq!(results["search"]["mpid"], known.as_str(), "search by email finds the profile: {context}");
    assert_eq!(results["search_unknown"]["httpCode"], 404, "search with no match: {context}");
    let anonymous = string(&results["logout"]["mpid"]).to_owned();
    assert_ne!(anonymous, known, "logout yields a new MPID: {context}");
    assert_eq!(results["logout"]["body"]["is_logged_in"], false, "{context}");
    assert_eq!(
        results["login_new_customer_id"]["mpid"],
        anonymous.as_str(),
        "login with a new customer ID keeps the (anonymous) MPID: {context}"
    );
    assert_eq!(results["login_new_customer_id"]["body"]["is_logged_in"], true, "{context}");

    // Cross-origin: every response to the page carried CORS headers.
    let page_origin = string(&report["page_origin"]);
    for request in report["requests"].as_array().unwrap() {
        let allowed = &request["access_control_allow_origin"];
        assert!(
            allowed == page_origin || allowed == "*",
            "{} {} answered without Access-Control-Allow-Origin for {page_origin}: {request}",
            request["method"],
            request["path"]
        );
    }

    // Every accepted batch and event was stored; two profiles exist.
    let uploads = &report["uploads"];
    assert!(uploads["accepted"].as_u64().unwrap() >= 5, "{context}");
    assert_eq!(uploads["requests"], uploads["accepted"], "{context}");
    let stats = custos.wait_for_stats(uploads["accepted"].as_u64().unwrap(), uploads["events"].as_u64().unwrap());
    assert_eq!(stats["profiles"], 2, "identify's profile and logout's: {stats}");

    // The known profile: its identities, attributes and CCPA consent.
    let token = custos.token();
    let profile = custos.profile(&token, &known);
    assert_eq!(mpid_of(&profile), known, "{profile:#}");
    assert_identity(&profile, &["customer_id", "customerid"], string(&identities["customerid"]));
    assert_identity(&profile, &["email"], string(&identities["email"]));
    assert_identity(&profile, &["other"], string(&identities["other"]));
    assert_attributes(&profile, &json!({"plan": "gold", "visits": 3, "tags": ["a", "b"]}));
    assert_ccpa(&profile, true, Some("ccpa-doc-v1"));

    // The profile logout created, then login made known: only its own identities.
    let converted = custos.profile(&token, &anonymous);
    assert_eq!(mpid_of(&converted), anonymous, "{converted:#}");
    assert_identity(&converted, &["customer_id", "customerid"], string(&identities["customerid_after_logout"]));
    for taken in [&identities["customerid"], &identities["email"]] {
        assert!(
            !identity_values(&converted).contains(&string(taken).to_owned()),
            "{taken} belongs to the known profile, not the new one: {converted:#}"
        );
    }
    assert!(
        converted["user_attributes"].get("plan").is_none(),
        "attributes stay with the profile they were set on: {converted:#}"
    );
}

/// The checks shared by the two server SDKs, which send the same scenario:
/// one batch by the single call, two by the bulk call, three users.
fn check_server_sdk_report(custos: &Custos, report: &Value, single_call: &str) {
    let context = format!("client report: {report:#}");
    let calls = report["calls"].as_array().unwrap();
    assert_eq!(calls[0]["call"], single_call, "{context}");
    for call in calls {
        assert_eq!(call["status"], 202, "{}: {context}", call["call"]);
    }
    let users = report["users"].as_array().unwrap();
    let stats = custos.wait_for_stats(report["batches"].as_u64().unwrap(), report["events"].as_u64().unwrap());
    assert_eq!(stats["profiles"], users.len(), "one profile per user: {stats}");

    let token = custos.token();
    let web_key = string(&custos.org["inputs"]["web"]["key"]);
    for user in users {
        let customer_id = string(&user["customerid"]);
        let email = string(&user["email"]);
        // The batch carried no MPID: the Identity API finds the profile by
        // either identity, which must be the same one.
        let mpid = custos.search(web_key, &json!({"customerid": customer_id}));
        let mpid = mpid.unwrap_or_else(|| panic!("search by customerid {customer_id} found nothing"));
        assert_eq!(
            custos.search(web_key, &json!({"email": email})).as_deref(),
            Some(mpid.as_str()),
            "search by email {email}"
        );

        let profile = custos.profile(&token, &mpid);
        assert_eq!(mpid_of(&profile), mpid, "{profile:#}");
        assert_identity(&profile, &["customer_id", "customerid"], customer_id);
        assert_identity(&profile, &["email"], email);
        assert_attributes(&profile, &user["user_attributes"]);
        assert_ccpa(&profile, user["ccpa_data_sale_opt_out"].as_bool().unwrap(), Some("ccpa-doc-v1"));
    }
}

// ---------------------------------------------------------------------------
// Assertions on profiles read through the Profile API.

fn string(value: &Value) -> &str {
    value.as_str().unwrap_or_else(|| panic!("expected a string, got {value}"))
}

/// A profile's `mpid`, whether the server sends it as a number or a string.
fn mpid_of(profile: &Value) -> String {
    match &profile["mpid"] {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        other => panic!("profile without an mpid ({other}): {profile:#}"),
    }
}

fn identity_values(profile: &Value) -> Vec<String> {
    profile["user_identities"]
        .as_array()
        .unwrap_or_else(|| panic!("user_identities is not a list: {profile:#}"))
        .iter()
        .filter_map(|identity| identity["value"].as_str().map(str::to_owned))
        .collect()
}

/// The profile lists `{"type": one of types, "value": value}` in `user_identities`.
#[track_caller]
fn assert_identity(profile: &Value, types: &[&str], value: &str) {
    let identities =
        profile["user_identities"].as_array().unwrap_or_else(|| panic!("user_identities is not a list: {profile:#}"));
    assert!(
        identities.iter().any(|identity| {
            identity["value"] == value && identity["type"].as_str().is_some_and(|kind| types.contains(&kind))
        }),
        "no {types:?} identity {value} in {profile:#}"
    );
}

/// Every expected attribute is on the profile. A number or boolean the client
/// sent may come back as JSON or as its string form (mParticle stores strings).
#[track_caller]
fn assert_attributes(profile: &Value, expected: &Value) {
    let attributes = &profile["user_attributes"];
    for (name, value) in expected.as_object().unwrap() {
        let actual = &attributes[name];
        assert!(
            loosely_equal(value, actual),
            "user attribute {name}: sent {value}, read back {actual}, in {profile:#}"
        );
    }
}

fn loosely_equal(sent: &Value, stored: &Value) -> bool {
    match (sent, stored) {
        (Value::Array(sent), Value::Array(stored)) => {
            sent.len() == stored.len() && sent.iter().zip(stored).all(|(a, b)| loosely_equal(a, b))
        }
        (Value::Number(_) | Value::Bool(_), Value::String(text)) => &sent.to_string() == text,
        _ => sent == stored,
    }
}

#[track_caller]
fn assert_ccpa(profile: &Value, consented: bool, document: Option<&str>) {
    let record = &profile["consent_state"]["ccpa"]["data_sale_opt_out"];
    assert_eq!(record["consented"], consented, "consent_state.ccpa.data_sale_opt_out.consented in {profile:#}");
    if let Some(document) = document {
        assert_eq!(record["document"], document, "the CCPA consent document in {profile:#}");
    }
}

// ---------------------------------------------------------------------------
// Finding the installed clients.

#[derive(Debug, Clone, Copy)]
enum Client {
    Python,
    Node,
    Web,
}

struct ClientTools {
    repo: PathBuf,
    python: PathBuf,
    chromium: PathBuf,
}

impl ClientTools {
    /// The tools `client` needs, or `None` (after saying why) when they are
    /// missing and not required; panics when they are required.
    fn find(client: Client) -> Option<ClientTools> {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let repo = repo.canonicalize().unwrap_or(repo);
        let tools = ClientTools {
            python: repo.join("target/clients-venv/bin/python"),
            chromium: std::env::var_os("CHROMIUM_PATH")
                .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from),
            repo,
        };
        let modules = tools.repo.join("clients/node_modules");
        let mut needed: Vec<(PathBuf, &str)> = Vec::new();
        match client {
            Client::Python => {
                needed.push((tools.python.clone(), "the Python venv with mparticle==0.16.1"));
            }
            Client::Node => {
                needed.push((modules.join("mparticle/package.json"), "npm mparticle"));
            }
            Client::Web => {
                needed.push((modules.join("@mparticle/web-sdk/dist/mparticle.js"), "npm @mparticle/web-sdk"));
                needed.push((modules.join("playwright-core/package.json"), "npm playwright-core"));
                needed.push((tools.chromium.clone(), "Debian's chromium"));
            }
        }
        let mut missing: Vec<String> = needed
            .into_iter()
            .filter(|(path, _)| !path.exists())
            .map(|(path, what)| format!("{what} ({})", path.display()))
            .collect();
        if matches!(client, Client::Node | Client::Web) && !runs(Command::new("node").arg("--version")) {
            missing.push("node on PATH".to_owned());
        }
        if missing.is_empty() {
            return Some(tools);
        }
        let message = format!(
            "real-client test ({client:?}) cannot run: missing {}; run scripts/install-test-deps",
            missing.join(", ")
        );
        if std::env::var("CUSTOS_REAL_CLIENTS").as_deref() == Ok("required") {
            panic!("{message} (CUSTOS_REAL_CLIENTS=required)");
        }
        eprintln!("SKIPPED: {message}; set CUSTOS_REAL_CLIENTS=required to make this a failure");
        None
    }

    fn command(&self, client: Client) -> Command {
        let clients = self.repo.join("clients");
        let mut command = match client {
            Client::Python => {
                let mut command = Command::new(&self.python);
                command.arg(clients.join("python_sdk.py"));
                command
            }
            Client::Node => {
                let mut command = Command::new("node");
                command.arg(clients.join("node_sdk.js"));
                command
            }
            Client::Web => {
                let mut command = Command::new("node");
                command.arg(clients.join("web_sdk.mjs")).env("CHROMIUM_PATH", &self.chromium);
                command
            }
        };
        command.current_dir(&clients);
        command
    }
}

fn runs(command: &mut Command) -> bool {
    command.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|status| status.success())
}

// ---------------------------------------------------------------------------
// Processes: every child is killed when its guard drops.

/// A spawned process, in a process group of its own so that its children
/// (Chromium under node) are killed with it.
struct Guard {
    child: Child,
}

impl Guard {
    fn spawn(command: &mut Command) -> Guard {
        use std::os::unix::process::CommandExt;
        let child = command.process_group(0).spawn().unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        Guard { child }
    }

    /// Waits at most `limit`; `None` if the process still runs.
    fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            // The whole group: the process and anything it started.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .stderr(Stdio::null())
                .status();
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        // Whatever the group left behind (a browser outliving node).
        let _ =
            Command::new("kill").args(["-KILL", "--", &format!("-{}", self.child.id())]).stderr(Stdio::null()).status();
    }
}

/// Runs a client script; returns its one-line JSON report. Panics, with its
/// output, if it fails, prints anything else, or outlives `CLIENT_WAIT`.
fn run_client(command: &mut Command, name: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let stdout_path = dir.path().join("stdout");
    let stderr_path = dir.path().join("stderr");
    command
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).unwrap())
        .stderr(File::create(&stderr_path).unwrap());
    let mut guard = Guard::spawn(command);
    let status = guard.wait(CLIENT_WAIT);
    drop(guard);
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let outcome = match status {
        Some(status) if status.success() => None,
        Some(status) => Some(format!("exited with {status}")),
        None => Some(format!("was killed after {CLIENT_WAIT:?}")),
    };
    if let Some(outcome) = outcome {
        panic!("{name} {outcome}\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    }
    let line = stdout.trim();
    assert_eq!(line.lines().count(), 1, "{name} prints one JSON report: {stdout}");
    let report: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{name} printed no JSON ({e}): {stdout}"));
    assert_eq!(report["ok"], true, "{name}: {report:#}\n--- stderr\n{stderr}");
    report
}

// ---------------------------------------------------------------------------
// The server under test.

struct Custos {
    /// `custos init --json`.
    org: Value,
    base: String,
    data_dir: PathBuf,
    log: PathBuf,
    server: Guard,
    /// Holds the data directory and the log until the end of the test.
    _dir: tempfile::TempDir,
}

fn custos() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_custos"));
    command.env_remove("CUSTOS_DATA_DIR").env_remove("CUSTOS_DATABASE_URL").env_remove("CUSTOS_LISTEN");
    command
}

impl Custos {
    /// `custos init` in a fresh data directory, then `custos serve` on a free
    /// port, once `/healthz` answers 200.
    fn start() -> Custos {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let output = custos().args(["init", "--json", "--data-dir"]).arg(&data_dir).output().unwrap();
        assert!(output.status.success(), "custos init: {}", String::from_utf8_lossy(&output.stderr));
        let org: Value = serde_json::from_slice(&output.stdout).expect("custos init --json prints JSON");

        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = dir.path().join("serve.log");
        let server = Guard::spawn(
            custos()
                .args(["serve", "--data-dir"])
                .arg(&data_dir)
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .stdin(Stdio::null())
                .stdout(File::create(dir.path().join("serve.stdout")).unwrap())
                .stderr(File::create(&log).unwrap()),
        );
        let mut custos = Custos { org, base: format!("http://127.0.0.1:{port}"), data_dir, log, server, _dir: dir };
        custos.wait_healthy();
        custos
    }

    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Some(status) = self.server.child.try_wait().unwrap() {
                panic!("custos serve exited with {status}:\n{}", self.log_text());
            }
            if http("GET", &format!("{}/healthz", self.base), &[], "").is_ok_and(|r| r.status == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("custos serve was not healthy within {WAIT:?}:\n{}", self.log_text());
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `custos stats --json`, run beside the server.
    fn stats(&self) -> Value {
        let output = custos().args(["stats", "--json", "--data-dir"]).arg(&self.data_dir).output().unwrap();
        assert!(output.status.success(), "custos stats: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("custos stats --json ({e}): {}", String::from_utf8_lossy(&output.stdout)))
    }

    /// Polls `custos stats` until it counts `batches`; then the counts must
    /// be exactly what the client sent.
    fn wait_for_stats(&self, batches: u64, events: u64) -> Value {
        let deadline = Instant::now() + WAIT;
        let mut stats = self.stats();
        while stats["batches"].as_u64() < Some(batches) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            stats = self.stats();
        }
        assert_eq!(stats["batches"], batches, "batches stored: {stats}");
        assert_eq!(stats["events"], events, "events stored: {stats}");
        stats
    }

    /// An OAuth access token for the organization's API client.
    fn token(&self) -> String {
        let client = &self.org["api_client"];
        let body = json!({
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
            "audience": "https://api.mparticle.com",
            "grant_type": "client_credentials",
        });
        let response = self.call("POST", "/oauth/token", &[("Content-Type", "application/json")], &body.to_string());
        assert_eq!(response.status, 200, "POST /oauth/token: {}", response.body);
        string(&response.json()["access_token"]).to_owned()
    }

    /// The Profile API's view of `mpid`.
    fn profile(&self, token: &str, mpid: &str) -> Value {
        let path = format!(
            "/userprofile/v1/{}/{}/{}/{mpid}?fields=user_identities,user_attributes,device_identities",
            self.org["org_id"], self.org["account_id"], self.org["workspace_id"]
        );
        let auth = format!("Bearer {token}");
        let response = self.call("GET", &path, &[("Authorization", &auth)], "");
        assert_eq!(response.status, 200, "GET {path}: {}", response.body);
        response.json()
    }

    /// Identity API search with a web input's key only, as the Web SDK does;
    /// the MPID found, or `None` on 404.
    fn search(&self, web_key: &str, known_identities: &Value) -> Option<String> {
        let body = json!({
            "client_sdk": {"platform": "other", "sdk_vendor": "custos-tests", "sdk_version": "0"},
            "environment": "development",
            "request_id": "00000000-0000-4000-8000-000000000000",
            "request_timestamp_ms": 0,
            "known_identities": known_identities,
        });
        let response = self.call(
            "POST",
            "/v1/search",
            &[("Content-Type", "application/json"), ("x-mp-key", web_key)],
            &body.to_string(),
        );
        match response.status {
            200 => Some(string(&response.json()["mpid"]).to_owned()),
            404 => None,
            other => panic!("POST /v1/search {known_identities}: {other} {}", response.body),
        }
    }

    fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Response {
        http(method, &format!("{}{path}", self.base), headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.log_text()))
    }
}

impl Drop for Custos {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log_text();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!(
                "--- last lines of custos serve's log\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        // `server` is dropped next, which kills it.
    }
}

// ---------------------------------------------------------------------------
// A minimal blocking HTTP/1.1 client, so these tests need no runtime.

struct Response {
    status: u16,
    body: String,
}

impl Response {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn http(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> std::io::Result<Response> {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(host, path)| (host, format!("/{path}")));
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(WAIT))?;
    stream.set_write_timeout(Some(WAIT))?;
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    stream.write_all(format!("{head}\r\n{body}").as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = &raw[split + 4..];
    let status = head
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {head}")))?;
    let chunked = head.lines().any(|line| {
        let line = line.to_ascii_lowercase();
        line.starts_with("transfer-encoding:") && line.contains("chunked")
    });
    let body = if chunked { dechunk(body) } else { body.to_vec() };
    Ok(Response { status, body: String::from_utf8_lossy(&body).into_owned() })
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(line_end) = rest.windows(2).position(|window| window == b"\r\n") {
        let size = String::from_utf8_lossy(&rest[..line_end]);
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        let data = &rest[line_end + 2..];
        if size == 0 || data.len() < size {
            break;
        }
        body.extend_from_slice(&data[..size]);
        rest = data[size..].strip_prefix(b"\r\n").unwrap_or(&data[size..]);
    }
    body
}
