//! The `custos` binary as an operator uses it: real processes, real ports.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use custos_store::testing::{fresh_postgres_schema, TEST_DATABASE_URL};
use serde_json::{json, Value};

fn custos() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_custos"));
    command.env_remove("CUSTOS_DATA_DIR").env_remove("CUSTOS_DATABASE_URL").env_remove("CUSTOS_LISTEN");
    command
}

fn run_ok(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    output
}

fn json_stdout(output: &Output) -> Value {
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    assert_eq!(text.trim().lines().count(), 1, "exactly one JSON object: {text}");
    serde_json::from_str(text.trim()).unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(mut command: Command) -> Server {
        let port = free_port();
        let child = command
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Server { child, base: format!("http://127.0.0.1:{port}") };
        server.wait_healthy();
        server
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(response) = raw_http::blocking_get(&format!("{}/healthz", self.base)) {
                if response == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not become healthy");
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }

    fn stdout(&mut self) -> String {
        let mut text = String::new();
        self.child.stdout.take().unwrap().read_to_string(&mut text).unwrap();
        text
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tiny blocking HTTP client, so these tests need no runtime.
mod raw_http {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    pub(super) fn request(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
        let mut stream = TcpStream::connect(host).map_err(|e| e.to_string()).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        stream.write_all(format!("{head}\r\n{body}").as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        (status, body)
    }

    pub(super) fn blocking_get(url: &str) -> Result<u16, String> {
        let rest = url.strip_prefix("http://").unwrap();
        let host = rest.split('/').next().unwrap();
        TcpStream::connect(host).map_err(|e| e.to_string())?;
        Ok(request("GET", url, &[], "").0)
    }
}

fn token(base: &str, client_id: &str, client_secret: &str) -> String {
    let body = json!({"client_id": client_id, "client_secret": client_secret,
                      "audience": "https://api.mparticle.com", "grant_type": "client_credentials"});
    let (status, text) = raw_http::request(
        "POST",
        &format!("{base}/oauth/token"),
        &[("Content-Type", "application/json")],
        &body.to_string(),
    );
    assert_eq!(status, 200, "{text}");
    serde_json::from_str::<Value>(&text).unwrap()["access_token"].as_str().unwrap().to_owned()
}

fn assert_organization_shape(org: &Value) {
    for id in ["org_id", "account_id", "workspace_id"] {
        assert!(org[id].is_i64(), "{id} in {org}");
    }
    let pairs = [
        (&org["api_client"], "client_id", "client_secret"),
        (&org["workspace"], "key", "secret"),
        (&org["inputs"]["web"], "key", "secret"),
        (&org["inputs"]["server"], "key", "secret"),
    ];
    for (pair, key, secret) in pairs {
        assert!(pair[key].as_str().is_some_and(|s| s.len() >= 32), "{key} in {org}");
        assert!(pair[secret].as_str().is_some_and(|s| s.len() >= 32), "{secret} in {org}");
    }
}

#[test]
fn init_creates_a_new_organization_on_every_call_and_prints_it_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let first = json_stdout(&run_ok(custos().args(["init", "--json", "--data-dir"]).arg(&data_dir)));
    let second = json_stdout(&run_ok(custos().args(["init", "--json", "--data-dir"]).arg(&data_dir)));
    assert_organization_shape(&first);
    assert_ne!(first["org_id"], second["org_id"]);
    assert_ne!(first["api_client"]["client_secret"], second["api_client"]["client_secret"]);

    // Secrets are stored only as hashes: the raw database file holds none of them.
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(&data_dir).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let haystack = String::from_utf8_lossy(&bytes);
    for secret in [
        &first["api_client"]["client_secret"],
        &first["workspace"]["secret"],
        &first["inputs"]["web"]["secret"],
        &first["inputs"]["server"]["secret"],
    ] {
        assert!(!haystack.contains(secret.as_str().unwrap()), "a secret is stored in clear");
    }
}

#[test]
fn init_works_against_postgres_too() {
    let Ok(url) = std::env::var(TEST_DATABASE_URL) else {
        eprintln!("{TEST_DATABASE_URL} is unset: skipping the PostgreSQL backend");
        return;
    };
    let url = tokio::runtime::Runtime::new().unwrap().block_on(fresh_postgres_schema(&url));
    // The master key file lives in the data directory, whatever the database.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let org = json_stdout(&run_ok(custos().args(["init", "--json", "--database-url", &url, "--data-dir", data])));
    assert_organization_shape(&org);
    let server = Server::start({
        let mut c = custos();
        c.args(["serve", "--database-url", &url, "--data-dir", data]);
        c
    });
    token(
        &server.base,
        org["api_client"]["client_id"].as_str().unwrap(),
        org["api_client"]["client_secret"].as_str().unwrap(),
    );
}

#[test]
fn credentials_are_created_with_only_their_scopes_listed_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let org = json_stdout(&run_ok(custos().args(["init", "--json", "--data-dir", data])));
    let org_id = org["org_id"].to_string();
    let created = json_stdout(&run_ok(custos().args([
        "credentials",
        "create",
        "--org",
        &org_id,
        "--name",
        "profile reader",
        "--scopes",
        "profile",
        "--json",
        "--data-dir",
        data,
    ])));
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    assert!(created["client_secret"].as_str().is_some_and(|s| s.len() >= 32));

    let listed =
        json_stdout(&run_ok(custos().args(["credentials", "list", "--org", &org_id, "--json", "--data-dir", data])));
    let reader = listed.as_array().unwrap().iter().find(|c| c["client_id"] == client_id.as_str()).unwrap();
    assert_eq!(reader["scopes"], json!(["profile"]));
    assert_eq!(reader["name"], "profile reader");
    assert!(listed.to_string().find("client_secret").is_none());

    let mut server = Server::start({
        let mut c = custos();
        c.args(["serve", "--data-dir", data]);
        c
    });
    let bearer = token(&server.base, &client_id, created["client_secret"].as_str().unwrap());
    let tasks = format!("{}/platform/v2/organizations/{org_id}/accounts/{}/tasks", server.base, org["account_id"]);
    let auth = format!("Bearer {bearer}");
    assert_eq!(raw_http::request("GET", &tasks, &[("Authorization", &auth)], "").0, 403, "no custom_roles scope");

    // Deleted while the server runs: its token stops working at once.
    run_ok(custos().args(["credentials", "delete", "--client-id", &client_id, "--data-dir", data]));
    assert_eq!(raw_http::request("GET", &tasks, &[("Authorization", &auth)], "").0, 401);
    assert!(server.terminate().success());

    let failed = custos()
        .args([
            "credentials",
            "create",
            "--org",
            &org_id,
            "--name",
            "x",
            "--scopes",
            "profile,events",
            "--data-dir",
            data,
        ])
        .output()
        .unwrap();
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("unknown scope `events`"));
    let failed = custos()
        .args(["credentials", "create", "--org", "987654", "--name", "x", "--scopes", "dsr", "--data-dir", data])
        .output()
        .unwrap();
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("organization 987654 does not exist"));
}

#[test]
fn serve_on_an_empty_store_creates_a_first_organization_and_prints_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // Everything from the environment: CUSTOS_DATA_DIR and CUSTOS_LISTEN.
    let start = || {
        let mut command = custos();
        command
            .arg("serve")
            .env("CUSTOS_DATA_DIR", dir.path())
            .env("CUSTOS_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let child = command.spawn().unwrap();
        let server = Server { child, base: format!("http://127.0.0.1:{port}") };
        server.wait_healthy();
        server
    };
    let mut first = start();
    let mut stdout = BufReader::new(first.child.stdout.take().unwrap());
    let mut printed = String::new();
    while !printed.contains("cannot be shown again") {
        assert!(stdout.read_line(&mut printed).unwrap() > 0, "{printed}");
    }
    let field = |name: &str| -> String {
        printed
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap()
            .split_whitespace()
            .last()
            .unwrap()
            .to_owned()
    };
    token(&first.base, &field("client_id:"), &field("client_secret:"));
    assert!(first.terminate().success());
    assert!(dir.path().join("custos.db").exists());

    let mut second = start();
    assert!(second.terminate().success());
    assert_eq!(second.stdout(), "", "credentials are printed only on the first start");
}

#[test]
fn sigterm_drains_requests_in_flight_then_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let org = json_stdout(&run_ok(custos().args(["init", "--json", "--data-dir", data])));
    let mut server = Server::start({
        let mut c = custos();
        c.args(["serve", "--data-dir", data]);
        c
    });
    let bearer = token(
        &server.base,
        org["api_client"]["client_id"].as_str().unwrap(),
        org["api_client"]["client_secret"].as_str().unwrap(),
    );

    // Start an upload, send half its body, signal, then send the rest.
    let body = json!({"roles": [{"role_id": "r", "name": "R", "description": "d", "tasks": []}]}).to_string();
    let (first_half, second_half) = body.split_at(body.len() / 2);
    let mut stream = TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
    let head =
        format!(
        "PUT /platform/v2/organizations/{}/accounts/{}/roles HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {bearer}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{first_half}",
        org["org_id"], org["account_id"], body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(server.child.try_wait().unwrap().is_none(), "still draining");
    stream.write_all(second_half.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn stats_counts_batches_events_and_profiles_while_serving() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let org = json_stdout(&run_ok(custos().args(["init", "--json", "--data-dir", data])));
    let server = Server::start({
        let mut c = custos();
        c.args(["serve", "--data-dir", data]);
        c
    });
    let auth = basic(&org["inputs"]["server"]);
    for user in ["s-1", "s-2"] {
        let batch = json!({"user_identities": {"customer_id": user},
                           "events": [{"event_type": "screen_view", "data": {"screen_name": "a"}},
                                      {"event_type": "screen_view", "data": {"screen_name": "b"}}]});
        let (status, _) = raw_http::request(
            "POST",
            &format!("{}/v2/events", server.base),
            &[("Authorization", &auth)],
            &batch.to_string(),
        );
        assert_eq!(status, 202);
    }
    let stats = json_stdout(&run_ok(custos().args(["stats", "--json", "--data-dir", data])));
    assert_eq!(
        stats,
        json!({"batches": 2, "events": 4, "profiles": 2,
               "workspaces": [{"workspace_id": org["workspace_id"], "batches": 2, "events": 4, "profiles": 2}]})
    );
}

fn basic(input: &Value) -> String {
    use base64::Engine;
    let pair = format!("{}:{}", input["key"].as_str().unwrap(), input["secret"].as_str().unwrap());
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
}

/// Batches acknowledged with 202 survive `kill -9` the instant after.
#[test]
fn acknowledged_batches_survive_a_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let org = json_stdout(&run_ok(custos().args(["init", "--json", "--data-dir", &data])));
    let mut server = Server::start({
        let mut c = custos();
        c.args(["serve", "--data-dir", &data]);
        c
    });
    let auth = basic(&org["inputs"]["server"]);
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let senders: Vec<_> = (0..4)
        .map(|sender| {
            let (base, auth, acknowledged, stop) = (server.base.clone(), auth.clone(), acknowledged.clone(), stop.clone());
            std::thread::spawn(move || {
                for n in 0..10_000 {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    let user = format!("k{sender}-{n}");
                    let batch = json!({"user_identities": {"customer_id": user}, "source_request_id": user,
                                       "events": [{"event_type": "custom_event", "data": {"event_name": "e", "custom_event_type": "other"}}]});
                    let outcome = std::panic::catch_unwind(|| {
                        raw_http::request("POST", &format!("{base}/v2/events"), &[("Authorization", &auth)], &batch.to_string())
                    });
                    match outcome {
                        Ok((202, _)) => acknowledged.lock().unwrap().push(user),
                        _ => break,
                    }
                }
            })
        })
        .collect();
    // Kill as soon as enough batches are acknowledged, while others are in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    Command::new("kill").args(["-KILL", &server.child.id().to_string()]).status().unwrap();
    let acked_at_kill = acknowledged.lock().unwrap().len();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    server.child.wait().unwrap();
    for sender in senders {
        sender.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acked_at_kill >= 200, "only {acked_at_kill} acknowledged before the deadline");

    let server = Server::start({
        let mut c = custos();
        c.args(["serve", "--data-dir", &data]);
        c
    });
    let stats = json_stdout(&run_ok(custos().args(["stats", "--json", "--data-dir", &data])));
    assert!(stats["batches"].as_u64().unwrap() >= acknowledged.len() as u64, "{stats} < {}", acknowledged.len());
    for user in &acknowledged {
        let body = json!({"known_identities": {"customerid": user}}).to_string();
        let (status, _) =
            raw_http::request("POST", &format!("{}/v1/search", server.base), &[("Authorization", &auth)], &body);
        assert_eq!(status, 200, "acknowledged batch of {user} was lost");
    }
}

fn workspace_basic(org: &Value) -> String {
    basic(&org["workspace"])
}

fn dsr_status(base: &str, auth: &str, id: &str) -> Value {
    let (status, text) = raw_http::request("GET", &format!("{base}/v3/requests/{id}"), &[("Authorization", auth)], "");
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// A `custos serve` killed while it exports a subject's data: the next start
/// takes the request over once the lease expires, discards the partial
/// export and completes it, exactly once in effect.
#[test]
fn a_request_interrupted_by_kill_9_is_resumed_and_completed_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let org = json_stdout(&run_ok(custos().args(["init", "--json", "--data-dir", &data])));
    let serve = || {
        let mut c = custos();
        c.args(["serve", "--data-dir", &data, "--dsr-lease", "2s", "--events-batches-per-second", "1000000"]);
        c
    };
    let mut server = Server::start(serve());

    // Enough data that the export takes a while: 80 requests of 100 batches,
    // each with an incompressible kilobyte.
    let auth = basic(&org["inputs"]["server"]);
    let batches = 8_000;
    for request in 0..batches / 100 {
        let bulk: Vec<Value> = (0..100)
            .map(|n| {
                let noise: String = (0..32).map(|_| uuid_like()).collect();
                json!({"user_identities": {"email": "resume@example.com"}, "source_request_id": format!("r{request}-{n}"),
                       "events": [{"event_type": "custom_event", "data": {"event_name": "e", "custom_event_type": "other",
                                   "custom_attributes": {"noise": noise}}}]})
            })
            .collect();
        let (status, text) = raw_http::request(
            "POST",
            &format!("{}/v2/bulkevents", server.base),
            &[("Authorization", &auth), ("Content-Type", "application/json")],
            &Value::Array(bulk).to_string(),
        );
        assert_eq!(status, 202, "{text}");
    }

    let dsr = workspace_basic(&org);
    let id = "5b7e1b1c-3a53-4b4e-9a0e-2f6f3c1d9e7a";
    let request = json!({"regulation": "gdpr", "subject_request_id": id, "subject_request_type": "access",
                         "submitted_time": "2026-11-01T00:00:00Z",
                         "subject_identities": {"email": {"value": "resume@example.com", "encoding": "raw"}}});
    let (status, text) = raw_http::request(
        "POST",
        &format!("{}/v3/requests", server.base),
        &[("Authorization", &dsr), ("Content-Type", "application/json")],
        &request.to_string(),
    );
    assert_eq!(status, 201, "{text}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while dsr_status(&server.base, &dsr, id)["request_status"] != "in_progress" {
        assert!(Instant::now() < deadline, "never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    Command::new("kill").args(["-KILL", &server.child.id().to_string()]).status().unwrap();
    server.child.wait().unwrap();

    let shown = json_stdout(&run_ok(custos().args(["dsr", "show", id, "--json", "--data-dir", &data])));
    assert_eq!(shown["status"], "in_progress", "killed mid-export: {shown}");
    assert_eq!(shown["attempts"], 1);

    let server = Server::start(serve());
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        let status = dsr_status(&server.base, &dsr, id);
        if status["request_status"] == "completed" {
            break status;
        }
        assert!(Instant::now() < deadline, "never resumed: {status}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(done["results_count"], 1);

    // The export holds every batch once, however much the first attempt wrote.
    let url = done["results_url"].as_str().unwrap();
    let output = Command::new("curl").args(["-sf", "-H", &format!("Authorization: {dsr}"), url]).output().unwrap();
    assert!(output.status.success());
    let zip_path = dir.path().join("export.zip");
    std::fs::write(&zip_path, &output.stdout).unwrap();
    let listing = Command::new("python3")
        .args(["-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(*[len(z.read(n).splitlines()) for n in z.namelist()])"])
        .arg(&zip_path)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&listing.stdout).trim(),
        format!("1 {batches}"),
        "{}",
        String::from_utf8_lossy(&listing.stderr)
    );

    let shown = json_stdout(&run_ok(custos().args(["dsr", "show", id, "--json", "--data-dir", &data])));
    let steps: Vec<&str> = shown["audit"].as_array().unwrap().iter().map(|e| e["step"].as_str().unwrap()).collect();
    assert_eq!(
        steps,
        ["received", "processing", "identities_resolved", "resumed", "identities_resolved", "exported", "completed"]
    );
    assert_eq!(shown["attempts"], 2);
    let listed =
        json_stdout(&run_ok(custos().args(["dsr", "list", "--json", "--status", "completed", "--data-dir", &data])));
    assert_eq!(listed[0]["subject_request_id"], id);
}

fn uuid_like() -> String {
    format!("{:032x}", rand_u128())
}

fn rand_u128() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(Instant::now().elapsed().as_nanos() as u64);
    (u128::from(hasher.finish()) << 64)
        | u128::from(std::collections::hash_map::RandomState::new().build_hasher().finish())
}

#[test]
fn serve_takes_settings_from_a_config_file_below_flags_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").to_str().unwrap().to_owned();
    run_ok(custos().args(["init", "--json", "--data-dir", &data]));
    let config = dir.path().join("custos.toml");
    std::fs::write(
        &config,
        "public-url = \"https://file.example\"\nerasure_waiting_period = \"1h\"\nallow-callback-network = [\"10.0.0.0/8\"]\n",
    )
    .unwrap();
    let certificate_url = |server: &Server| -> String {
        let (status, text) = raw_http::request("GET", &format!("{}/v3/discovery", server.base), &[], "");
        assert_eq!(status, 200, "{text}");
        serde_json::from_str::<Value>(&text).unwrap()["processor_certificate"].as_str().unwrap().to_owned()
    };
    let from_file = Server::start({
        let mut c = custos();
        c.args(["serve", "--data-dir", &data, "--config", config.to_str().unwrap()]);
        c
    });
    assert_eq!(certificate_url(&from_file), "https://file.example/v3/certificate.pem");
    drop(from_file);

    let from_env = Server::start({
        let mut c = custos();
        c.args(["serve", "--data-dir", &data, "--config", config.to_str().unwrap()]);
        c.env("CUSTOS_PUBLIC_URL", "https://env.example");
        c
    });
    assert_eq!(certificate_url(&from_env), "https://env.example/v3/certificate.pem");
    drop(from_env);

    std::fs::write(&config, "erasure-waiting-priod = \"1h\"\n").unwrap();
    let output = custos().args(["serve", "--data-dir", &data, "--config", config.to_str().unwrap()]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown setting `erasure-waiting-priod`"));
}
