//! [`RequestManager`]: the operations the HTTP API and the CLI share, over
//! the store, the sealing key and the processors.

use std::path::Path;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::domain::connection::{validate_connection, ConnectionDraft, Credentials, Pod, Target};
use crate::domain::request::{validate_request, RequestDraft, RequestKind, RequestStatus, Subject};
use crate::error::RmError;
use crate::package::{self, ConnectionResults};
use crate::processor::{Processor, Processors};
use crate::sealing::{SealingKey, KEY_ENV, KEY_FILE};
use crate::store::{
    self, Connection, DataSource, NewConnection, NewJob, NewRequest, RequestDetail, RequestRecord, RmStore,
    StoredConnection,
};
use crate::token;

/// A setting sealed with the key at first use, to tell a wrong key from a right one.
const KEY_CHECK_SETTING: &str = "key_check";
const KEY_CHECK_TEXT: &str = "custos-rm";

#[derive(Clone)]
pub struct RequestManager {
    pub store: Arc<dyn RmStore>,
    pub key: SealingKey,
    pub processors: Arc<Processors>,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("opening the store {source_name}: {error}")]
    Store { source_name: String, error: store::StoreError },
    #[error("loading the key from {KEY_ENV} or {path}: {error}")]
    Key { path: String, error: crate::sealing::KeyError },
    #[error(
        "the key from {KEY_ENV} or {path} does not open this store's secrets: use the key the store was created with"
    )]
    WrongKey { path: String },
}

impl RequestManager {
    /// Opens the store at `source` and the key in `key_dir` (created on first
    /// use), and checks that the key is the store's.
    pub async fn open(source: &DataSource, key_dir: &Path) -> Result<RequestManager, OpenError> {
        let source_name = format!("{source:?}");
        let store =
            store::open(source).await.map_err(|error| OpenError::Store { source_name: source_name.clone(), error })?;
        let path = key_dir.join(KEY_FILE).display().to_string();
        let key = SealingKey::load_or_create(key_dir).map_err(|error| OpenError::Key { path: path.clone(), error })?;
        match key_opens_store(&*store, &key).await {
            Ok(true) => Ok(RequestManager { store, key, processors: Arc::new(Processors::default()) }),
            Ok(false) => Err(OpenError::WrongKey { path }),
            Err(error) => Err(OpenError::Store { source_name, error }),
        }
    }

    /// A manager over an open store, checking that `key` is the store's.
    pub async fn with_key(
        store: Arc<dyn RmStore>,
        key: SealingKey,
        processors: Arc<Processors>,
    ) -> Result<RequestManager, RmError> {
        if !key_opens_store(&*store, &key).await? {
            return Err(RmError::Unauthorized("the key does not open this store's secrets".into()));
        }
        Ok(RequestManager { store, key, processors })
    }

    /// A new admin API token; only its digest is kept.
    pub async fn issue_api_token(&self) -> Result<String, RmError> {
        let (token, digest) = token::issue();
        self.store.add_api_token(&digest, OffsetDateTime::now_utc()).await?;
        Ok(token)
    }

    pub async fn token_is_valid(&self, presented: &str) -> Result<bool, RmError> {
        Ok(token::matches_any(presented, &self.store.api_token_digests().await?))
    }

    /// Validates, tests against the platform, then saves a connection.
    pub async fn connect(&self, draft: ConnectionDraft) -> Result<Connection, RmError> {
        let spec = validate_connection(draft).map_err(RmError::Invalid)?;
        let processor =
            Processor::new(self.processors.clone(), spec.target.endpoints(), spec.workspace.clone(), spec.web.clone());
        let failures = processor.check().await;
        if !failures.is_empty() {
            return Err(RmError::ConnectionTest(failures));
        }
        let (pod, base_url) = match &spec.target {
            Target::Pod(pod) => (Some(pod.as_str().to_owned()), None),
            Target::BaseUrl(url) => (None, Some(url.clone())),
        };
        Ok(self
            .store
            .insert_connection(NewConnection {
                name: spec.name,
                pod,
                base_url,
                workspace_key: spec.workspace.key,
                workspace_secret_sealed: self.key.seal(&spec.workspace.secret),
                web_key: spec.web.key,
                web_secret_sealed: self.key.seal(&spec.web.secret),
                created_at: OffsetDateTime::now_utc(),
            })
            .await?)
    }

    pub async fn remove_connection(&self, id: i64) -> Result<(), RmError> {
        if self.store.remove_connection(id, OffsetDateTime::now_utc()).await? {
            Ok(())
        } else {
            Err(RmError::NotFound(format!("no connection has id {id}")))
        }
    }

    /// The processor of a stored connection, with its secrets opened.
    pub fn processor_for(&self, stored: &StoredConnection) -> Result<Processor, RmError> {
        let open = |sealed: &str| {
            self.key
                .open(sealed)
                .ok_or_else(|| RmError::Internal("a connection secret does not open with the key".into()))
        };
        let connection = &stored.connection;
        Ok(Processor::new(
            self.processors.clone(),
            target_of(connection)?.endpoints(),
            Credentials { key: connection.workspace_key.clone(), secret: open(&stored.workspace_secret_sealed)? },
            Credentials { key: connection.web_key.clone(), secret: open(&stored.web_secret_sealed)? },
        ))
    }

    /// Validates and stores a request, with one job per connection. Each job's
    /// OpenDSR `subject_request_id` is fixed here, before any attempt.
    pub async fn create_request(&self, draft: RequestDraft) -> Result<RequestRecord, RmError> {
        let now = OffsetDateTime::now_utc();
        let spec = validate_request(draft, now).map_err(RmError::Invalid)?;
        let connections = self.store.list_connections().await?;
        if connections.is_empty() {
            return Err(RmError::Unprocessable(
                "no connection exists: connect a platform (POST /rm/v1/connections) before creating requests".into(),
            ));
        }
        let jobs = connections
            .iter()
            .map(|c| NewJob { connection_id: c.id, processor_request_id: uuid::Uuid::new_v4().to_string() })
            .collect();
        let record = self
            .store
            .create_request(
                NewRequest {
                    id: uuid::Uuid::new_v4().to_string(),
                    kind: spec.kind,
                    regulation: spec.regulation,
                    subject_sealed: self.key.seal(&encode_subject(&spec.subject)),
                    subject_kinds: spec.subject.kinds().into_iter().map(str::to_owned).collect(),
                    received_at: spec.received_at,
                    deadline: spec.deadline,
                    created_at: now,
                },
                jobs,
            )
            .await?;
        Ok(record)
    }

    pub async fn request_detail(&self, id: &str) -> Result<RequestDetail, RmError> {
        self.store.request_detail(id).await?.ok_or_else(|| RmError::NotFound(format!("no request has id {id}")))
    }

    /// The package of a completed access request: each connection's results.
    pub async fn results_package(&self, id: &str) -> Result<Vec<u8>, RmError> {
        let detail = self.request_detail(id).await?;
        let request = &detail.request;
        if request.kind != RequestKind::Access {
            return Err(RmError::Conflict(format!(
                "request {id} is a {} request: only access requests have results",
                request.kind.as_str()
            )));
        }
        if request.status != RequestStatus::Completed {
            return Err(RmError::Conflict(format!(
                "request {id} is {}: results are packaged once it is completed",
                request.status.as_str()
            )));
        }
        let mut sealed = self.store.job_results(id).await?;
        let connections = detail
            .jobs
            .iter()
            .map(|job| {
                let results = sealed
                    .iter()
                    .position(|results| results.connection_name == job.connection_name)
                    .map(|at| sealed.remove(at).results_sealed)
                    .map(|body| {
                        self.key
                            .open_bytes(&body)
                            .ok_or_else(|| RmError::Internal("results do not open with the key".into()))
                    })
                    .transpose()?;
                Ok(ConnectionResults { name: job.connection_name.clone(), status: job.state.status, results })
            })
            .collect::<Result<Vec<_>, RmError>>()?;
        package::build(request, &connections, OffsetDateTime::now_utc())
            .map_err(|error| RmError::Internal(format!("building the package: {error}")))
    }

    /// The subject of a request, from its sealed form.
    pub fn open_subject(&self, sealed: &str) -> Result<Subject, RmError> {
        self.key
            .open(sealed)
            .map(|text| decode_subject(&text))
            .ok_or_else(|| RmError::Internal("a subject does not open with the key".into()))
    }
}

/// Whether `key` opens the store's secrets. The first key asked seals the
/// check, and so becomes the store's.
async fn key_opens_store(store: &dyn RmStore, key: &SealingKey) -> Result<bool, store::StoreError> {
    let stored = store.setting_or_insert(KEY_CHECK_SETTING, &key.seal(KEY_CHECK_TEXT)).await?;
    Ok(key.open(&stored).as_deref() == Some(KEY_CHECK_TEXT))
}

pub fn target_of(connection: &Connection) -> Result<Target, RmError> {
    match (&connection.pod, &connection.base_url) {
        (Some(pod), None) => Pod::parse(pod)
            .map(Target::Pod)
            .ok_or_else(|| RmError::Internal(format!("connection {} has an unknown pod", connection.id))),
        (None, Some(url)) => Ok(Target::BaseUrl(url.clone())),
        _ => Err(RmError::Internal(format!("connection {} has no target", connection.id))),
    }
}

/// A subject as the JSON text that is sealed.
fn encode_subject(subject: &Subject) -> String {
    serde_json::json!({ "email": subject.email, "customer_id": subject.customer_id, "phone": subject.phone })
        .to_string()
}

fn decode_subject(text: &str) -> Subject {
    let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    let field = |name: &str| value[name].as_str().map(str::to_owned);
    Subject { email: field("email"), customer_id: field("customer_id"), phone: field("phone") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_survives_its_encoding() {
        let subject = Subject { email: Some("a@b.c".into()), customer_id: None, phone: Some("+1 555".into()) };
        assert_eq!(decode_subject(&encode_subject(&subject)), subject);
    }
}
