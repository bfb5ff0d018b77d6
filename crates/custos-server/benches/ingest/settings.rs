//! The benchmark's settings, read from `CUSTOS_BENCH_*` variables.

use std::time::Duration;

/// The benchmark's settings, from the environment (see the crate's documentation).
pub(crate) struct Settings {
    pub(crate) seconds: Duration,
    pub(crate) warmup: Duration,
    pub(crate) profiles: u64,
    pub(crate) users: u64,
    pub(crate) new_users: f64,
    pub(crate) database_url: Option<String>,
}

impl Settings {
    pub(crate) fn from_env() -> Settings {
        let seconds: f64 = env_number("CUSTOS_BENCH_SECONDS", 10.0);
        let profiles: f64 = env_number("CUSTOS_BENCH_PROFILES", 1_000_000.0);
        let users: f64 = env_number("CUSTOS_BENCH_USERS", 50_000.0);
        let new_users: f64 = env_number("CUSTOS_BENCH_NEW_USERS", 0.05);
        assert!((0.0..=1.0).contains(&new_users), "CUSTOS_BENCH_NEW_USERS must be between 0 and 1, not {new_users}");
        let seconds = Duration::from_secs_f64(seconds.max(0.1));
        Settings {
            seconds,
            warmup: (seconds / 10).max(Duration::from_millis(200)),
            profiles: (profiles as u64).max(1),
            users: (users as u64).max(1),
            new_users,
            database_url: std::env::var("CUSTOS_BENCH_DATABASE_URL").ok().filter(|url| !url.is_empty()),
        }
    }

    /// A bound on the requests of one phase, beside its duration.
    pub(crate) fn max_requests(&self) -> u64 {
        (self.seconds.as_secs_f64() * 1_000_000.0) as u64 + 1_000
    }
}

fn env_number(name: &str, default: f64) -> f64 {
    match std::env::var(name) {
        Ok(text) => text.replace('_', "").parse().unwrap_or_else(|_| panic!("{name} must be a number, not `{text}`")),
        Err(_) => default,
    }
}
