//! Runs a browser script from `clients/` against a console under test and
//! reads its report: node with npm `playwright-core` driving Debian's
//! headless Chromium, `axe-core` checking every page, screenshots into
//! `target/console-screenshots/`.
//!
//! ```text
//! let Some(browser) = BrowserScripts::find() else { return }; // skipped, and said why
//! let report = tokio::task::spawn_blocking(move || browser.run("console/kit_demo.mjs", &[&base_url, &invite_url]))
//!     .await
//!     .unwrap();
//! assert_eq!(report["pages"].as_array().unwrap().len(), 5);
//! ```
//!
//! A script prints one JSON object on stdout with `"ok": true` when all
//! went well (`clients/console/harness.mjs` does this). The tools are
//! installed by `scripts/install-test-deps`; when they are missing the test
//! skips with a message, unless `CUSTOS_REAL_CLIENTS=required`, when it
//! fails.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The longest a script may run (it starts a browser and visits several pages).
pub const SCRIPT_LIMIT: Duration = Duration::from_secs(180);

/// The installed tools that run browser scripts.
#[derive(Debug, Clone)]
pub struct BrowserScripts {
    repo: PathBuf,
    chromium: PathBuf,
}

impl BrowserScripts {
    /// The tools, or `None` (after saying what is missing) when they are not
    /// installed; panics instead when `CUSTOS_REAL_CLIENTS=required`.
    pub fn find() -> Option<BrowserScripts> {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let repo = repo.canonicalize().unwrap_or(repo);
        let chromium =
            std::env::var_os("CHROMIUM_PATH").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
        let modules = repo.join("clients/node_modules");
        let needed = [
            (modules.join("playwright-core/package.json"), "npm playwright-core"),
            (modules.join("axe-core/axe.min.js"), "npm axe-core"),
            (chromium.clone(), "Debian's chromium"),
        ];
        let mut missing: Vec<String> = needed
            .into_iter()
            .filter(|(path, _)| !path.exists())
            .map(|(path, what)| format!("{what} ({})", path.display()))
            .collect();
        let node_runs = Command::new("node")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !node_runs {
            missing.push("node on PATH".to_owned());
        }
        if missing.is_empty() {
            return Some(BrowserScripts { repo, chromium });
        }
        let message = format!("browser test cannot run: missing {}; run scripts/install-test-deps", missing.join(", "));
        if std::env::var("CUSTOS_REAL_CLIENTS").as_deref() == Ok("required") {
            panic!("{message} (CUSTOS_REAL_CLIENTS=required)");
        }
        eprintln!("SKIPPED: {message}; set CUSTOS_REAL_CLIENTS=required to make this a failure");
        None
    }

    /// Where scripts save screenshots: `target/console-screenshots/` of the repository.
    pub fn screenshots_dir(&self) -> PathBuf {
        self.repo.join("target/console-screenshots")
    }

    /// Runs `node clients/<script> <args…>` and returns its JSON report.
    /// Blocks (call it from `spawn_blocking` beside an async server). Panics,
    /// with the script's output, if it exits non-zero, prints anything but
    /// one JSON object, reports `"ok": false`, or outlives [`SCRIPT_LIMIT`].
    pub fn run(&self, script: &str, args: &[&str]) -> Value {
        let clients = self.repo.join("clients");
        let output = tempfile::tempdir().expect("a temporary directory for the script's output");
        let stdout_path = output.path().join("stdout");
        let stderr_path = output.path().join("stderr");
        let mut command = Command::new("node");
        command
            .arg(clients.join(script))
            .args(args)
            .current_dir(&clients)
            .env("CHROMIUM_PATH", &self.chromium)
            .env("CUSTOS_SCREENSHOTS_DIR", self.screenshots_dir())
            .stdin(Stdio::null())
            .stdout(File::create(&stdout_path).expect("the script's stdout file"))
            .stderr(File::create(&stderr_path).expect("the script's stderr file"));
        let mut process = Guard::spawn(&mut command);
        let status = process.wait(SCRIPT_LIMIT);
        drop(process);
        let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
        let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        let failure = match status {
            Some(status) if status.success() => None,
            Some(status) => Some(format!("exited with {status}")),
            None => Some(format!("was killed after {SCRIPT_LIMIT:?}")),
        };
        if let Some(failure) = failure {
            panic!("{script} {failure}\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
        }
        let line = stdout.trim();
        assert_eq!(line.lines().count(), 1, "{script} prints one JSON report:\n{stdout}\n--- stderr\n{stderr}");
        let report: Value = serde_json::from_str(line)
            .unwrap_or_else(|error| panic!("{script} printed no JSON ({error}):\n{stdout}\n--- stderr\n{stderr}"));
        assert_eq!(report["ok"], true, "{script} reported failures: {report:#}\n--- stderr\n{stderr}");
        report
    }
}

/// A spawned script, in a process group of its own so that the browser it
/// starts is killed with it.
struct Guard {
    child: Child,
}

impl Guard {
    fn spawn(command: &mut Command) -> Guard {
        use std::os::unix::process::CommandExt;
        let child =
            command.process_group(0).spawn().unwrap_or_else(|error| panic!("cannot start {command:?}: {error}"));
        Guard { child }
    }

    /// Waits at most `limit`; `None` if the process still runs.
    fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("the script's status") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill_group(&self) {
        let _ =
            Command::new("kill").args(["-KILL", "--", &format!("-{}", self.child.id())]).stderr(Stdio::null()).status();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.kill_group();
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        // Whatever the group left behind (a browser outliving node).
        self.kill_group();
    }
}
