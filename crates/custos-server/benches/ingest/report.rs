//! What a phase measured, and how it is printed.

use std::path::Path;
use std::time::Duration;

use crate::batches::EVENTS_PER_BATCH;
use crate::cpu::{cpu_line, Cpu, DISK_BYTES, WRITE_CALL_BYTES};
use crate::load::Tally;
use crate::settings::Settings;

pub(crate) struct Phase {
    pub(crate) name: String,
    pub(crate) concurrency: usize,
    /// Batches stored per successful request (0 for requests that store none).
    pub(crate) batches_per_request: u64,
    /// Successful requests of the warm-up, which also count as acknowledged.
    pub(crate) warmup_ok: u64,
    pub(crate) warmup_errors: u64,
    pub(crate) elapsed: Duration,
    pub(crate) tally: Tally,
    pub(crate) cpu: Cpu,
}

impl Phase {
    pub(crate) fn requests_per_second(&self) -> f64 {
        self.tally.ok as f64 / self.elapsed.as_secs_f64()
    }

    pub(crate) fn batches_per_second(&self) -> f64 {
        self.requests_per_second() * self.batches_per_request as f64
    }

    pub(crate) fn events_per_second(&self) -> f64 {
        self.batches_per_second() * EVENTS_PER_BATCH as f64
    }

    pub(crate) fn percentile(&self, p: f64) -> Duration {
        let samples = &self.tally.samples;
        if samples.is_empty() {
            return Duration::ZERO;
        }
        samples[((samples.len() - 1) as f64 * p).round() as usize]
    }

    pub(crate) fn errors(&self) -> u64 {
        self.tally.errors + self.warmup_errors
    }

    /// Batches acknowledged, warm-up included.
    pub(crate) fn acknowledged_batches(&self) -> u64 {
        (self.tally.ok + self.warmup_ok) * self.batches_per_request
    }

    pub(crate) fn print(&self, baseline: Option<&Phase>) {
        let versus = baseline.map_or(String::new(), |b| {
            format!(
                " = {:.3} x baseline throughput, p99 {:.1} x baseline",
                self.requests_per_second() / b.requests_per_second(),
                self.percentile(0.99).as_secs_f64() / b.percentile(0.99).as_secs_f64()
            )
        });
        println!(
            "  {} (concurrency {}): {} ok in {:.2?}: {:.0} requests/s{versus}",
            self.name,
            self.concurrency,
            self.tally.ok,
            self.elapsed,
            self.requests_per_second()
        );
        if self.batches_per_request > 0 {
            println!("    {:.0} batches/s, {:.0} events/s", self.batches_per_second(), self.events_per_second());
        }
        println!(
            "    latency p50 {:.3?}, p99 {:.3?}, p99.9 {:.3?}, max {:.3?}; errors {}",
            self.percentile(0.50),
            self.percentile(0.99),
            self.percentile(0.999),
            self.percentile(1.0),
            self.errors()
        );
        if let Some(error) = &self.tally.first_error {
            println!("    first error: {error}");
        }
        println!("{}", cpu_line(&self.cpu, self.elapsed));
        if self.batches_per_request > 0 && self.tally.ok > 0 {
            let batches = (self.tally.ok * self.batches_per_request) as f64;
            let cpu = |group| self.cpu.get(group).copied().unwrap_or(0.0) / batches * 1e6;
            println!(
                "    CPU per batch: server threads (with the SQLite writer) {:.0} us, sqlx SQLite threads {:.0} us, load generator {:.0} us, \
                 other processes (PostgreSQL's, if used) {:.0} us",
                cpu("server"),
                cpu("sqlite"),
                cpu("load-gen"),
                cpu("elsewhere")
            );
            let bytes = |entry| self.cpu.get(entry).copied().unwrap_or(0.0) / batches / 1024.0;
            println!(
                "    written per batch: {:.1} KiB to storage, {:.1} KiB through write calls",
                bytes(DISK_BYTES),
                bytes(WRITE_CALL_BYTES)
            );
        }
    }
}

/// A phase beside its baseline, measured in the same run at the same concurrency.
pub(crate) struct Compared {
    pub(crate) baseline: Phase,
    pub(crate) measured: Phase,
}

/// The sizes of the SQLite files in `dir`.
pub(crate) fn print_sqlite_files(dir: &Path) {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|file| {
            let size = file.metadata().ok()?.len();
            Some(format!("{} {:.0} MiB", file.file_name().to_string_lossy(), size as f64 / (1024.0 * 1024.0)))
        })
        .collect();
    files.sort();
    println!("\n  SQLite files at the end: {}", files.join(", "));
}

/// One line per phase, each beside its baseline: the events phases, the
/// identity phases, identify during ingestion (beside the first identity
/// baseline) and the store alone.
pub(crate) fn print_summary(
    backend: &str,
    settings: &Settings,
    events: &Compared,
    bulk: &Compared,
    identity: &[Compared],
    during: &Phase,
    direct: &Phase,
) {
    println!(
        "\nSummary, store: {} ({} profiles, {:.0} s per phase)",
        backend,
        settings.profiles,
        settings.seconds.as_secs_f64()
    );
    println!(
        "{:<36} {:>5} {:>10} {:>10} {:>10} {:>10} {:>10} {:>7}  throughput / baseline",
        "phase", "conc", "requests/s", "events/s", "p50", "p99", "p99.9", "errors"
    );
    for Compared { baseline, measured } in [events, bulk].into_iter().chain(identity) {
        summary_row(baseline, Some(baseline));
        summary_row(measured, Some(baseline));
    }
    summary_row(during, Some(&identity[0].baseline));
    summary_row(direct, None);
}

fn summary_row(phase: &Phase, baseline: Option<&Phase>) {
    let events = if phase.batches_per_request > 0 { format!("{:.0}", phase.events_per_second()) } else { "-".into() };
    let ratio = match baseline {
        Some(b) if std::ptr::eq(b, phase) => "(baseline)".to_owned(),
        Some(b) => format!("{:.3}", phase.requests_per_second() / b.requests_per_second()),
        None => "- (no HTTP; a request is a call)".to_owned(),
    };
    println!(
        "{:<36} {:>5} {:>10.0} {:>10} {:>10.3?} {:>10.3?} {:>10.3?} {:>7}  {}",
        phase.name,
        phase.concurrency,
        phase.requests_per_second(),
        events,
        phase.percentile(0.50),
        phase.percentile(0.99),
        phase.percentile(0.999),
        phase.errors(),
        ratio
    );
}
