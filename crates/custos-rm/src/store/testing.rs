//! Test support: the backends every suite runs against.
//!
//! SQLite always runs, in a temporary directory. PostgreSQL runs when
//! `CUSTOS_TEST_DATABASE_URL` is set, each call in a fresh schema of that
//! database, so tests run in parallel without seeing each other.

use super::DataSource;

/// The environment variable naming the PostgreSQL database for tests.
pub const TEST_DATABASE_URL: &str = "CUSTOS_TEST_DATABASE_URL";

/// A data source for a test; the temporary directory lives as long as it does.
#[derive(Debug)]
pub struct TestSource {
    pub source: DataSource,
    pub backend: &'static str,
    _dir: Option<tempfile::TempDir>,
}

/// A fresh SQLite source, and a fresh PostgreSQL one when configured.
pub async fn test_sources() -> Vec<TestSource> {
    let mut sources = vec![sqlite_source()];
    match std::env::var(TEST_DATABASE_URL) {
        Ok(url) => sources.push(TestSource {
            source: DataSource::Url(fresh_postgres_schema(&url).await),
            backend: "postgres",
            _dir: None,
        }),
        Err(_) => eprintln!("{TEST_DATABASE_URL} is unset: skipping the PostgreSQL backend"),
    }
    sources
}

pub fn sqlite_source() -> TestSource {
    let dir = tempfile::tempdir().expect("a temporary directory");
    TestSource { source: DataSource::DataDir(dir.path().to_owned()), backend: "sqlite", _dir: Some(dir) }
}

/// Creates an empty schema and returns a URL whose connections use it. The
/// `custos_test_` prefix lets CI drop what test runs leave behind.
pub async fn fresh_postgres_schema(url: &str) -> String {
    use sqlx::Connection;
    let schema = format!("custos_test_rm_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(url).await.expect("CUSTOS_TEST_DATABASE_URL must be reachable");
    sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&mut conn).await.expect("CREATE SCHEMA");
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}
