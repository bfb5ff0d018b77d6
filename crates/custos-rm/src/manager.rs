//! [`RequestManager`]: the operations the HTTP API, the console and the CLI
//! share, over the store, the sealing key, the processors and the clock.
//!
//! Beside this file: `workflow.rs` (verification, approval, denial,
//! extension, delivery, the subject's links, the timers and notices),
//! `people.rs` (users, API tokens, the audit log), `outbox.rs` (mail kept
//! and sent), `report.rs` (the CSV report and the summary).

mod outbox;
mod people;
mod report;
mod workflow;

use std::path::Path;
use std::sync::Arc;

use custos_kit::clock::{Clock, SystemClock};
use time::OffsetDateTime;
use url::Url;

use crate::config::WorkflowConfig;
use crate::domain::connection::{validate_connection, ConnectionDraft, Credentials, Pod, Target};
use crate::domain::request::{validate_request, RequestDraft, RequestKind, RequestStatus, Subject};
use crate::domain::role::Actor;
use crate::domain::workflow::{next, Action, Facts};
use crate::error::RmError;
use crate::package::{self, ConnectionResults};
use crate::processor::check::CheckFailure;
use crate::processor::trust::Trust;
use crate::processor::{Api, Processor, Processors};
use crate::sealing::{SealingKey, KEY_ENV, KEY_FILE};
use crate::store::{
    self, Connection, DataSource, NewConnection, NewJob, NewRequest, RequestDetail, RequestRecord, RmStore,
    StoredConnection,
};

pub use outbox::OutboxMessage;
pub use people::{PRODUCT_NAME, SESSION_COOKIE};
pub use workflow::{LinkCheck, SubjectPackage};

/// A setting sealed with the key at first use, to tell a wrong key from a right one.
const KEY_CHECK_SETTING: &str = "key_check";
const KEY_CHECK_TEXT: &str = "custos-rm";

#[derive(Clone)]
pub struct RequestManager {
    pub store: Arc<dyn RmStore>,
    pub key: SealingKey,
    pub processors: Arc<Processors>,
    /// What the workflow's timers and links read the time from.
    pub clock: Arc<dyn Clock>,
    pub config: Arc<WorkflowConfig>,
}

/// Where links point before a public URL is given.
const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8090";

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
            Ok(true) => Ok(RequestManager::assemble(store, key, Arc::new(Processors::default()))),
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
        Ok(RequestManager::assemble(store, key, processors))
    }

    fn assemble(store: Arc<dyn RmStore>, key: SealingKey, processors: Arc<Processors>) -> RequestManager {
        let public_url = Url::parse(DEFAULT_PUBLIC_URL).expect("the default public URL is valid");
        RequestManager {
            store,
            key,
            processors,
            clock: Arc::new(SystemClock),
            config: Arc::new(WorkflowConfig::new(public_url)),
        }
    }

    /// The same manager, taking requests in and making links as `config` says.
    pub fn with_config(self, config: WorkflowConfig) -> RequestManager {
        RequestManager { config: Arc::new(config), ..self }
    }

    /// The same manager, reading the time from `clock` (tests move it by hand).
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> RequestManager {
        RequestManager { clock, ..self }
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Validates, tests against the platform, then saves a connection. A
    /// Custos platform's signing certificate is pinned now (its fingerprint
    /// is in the connection's view).
    pub async fn connect(&self, draft: ConnectionDraft, actor: &Actor) -> Result<Connection, RmError> {
        let spec = validate_connection(draft).map_err(RmError::Invalid)?;
        let processor =
            Processor::new(self.processors.clone(), spec.target.endpoints(), spec.workspace.clone(), spec.web.clone());
        let certificate_sha256 = self.check(&processor, &spec.target).await?;
        let (pod, base_url) = match &spec.target {
            Target::Pod(pod) => (Some(pod.as_str().to_owned()), None),
            Target::BaseUrl(url) => (None, Some(url.clone())),
        };
        let connection = self
            .store
            .insert_connection(NewConnection {
                name: spec.name,
                pod,
                base_url,
                workspace_key: spec.workspace.key,
                workspace_secret_sealed: self.key.seal(&spec.workspace.secret),
                web_key: spec.web.key,
                web_secret_sealed: self.key.seal(&spec.web.secret),
                created_at: self.now(),
                certificate_sha256,
            })
            .await?;
        let pinned = connection.certificate_sha256.as_deref().map(|f| format!("; certificate {f} pinned"));
        let event = format!("connected `{}` (id {}){}", connection.name, connection.id, pinned.unwrap_or_default());
        self.store.record_activity(&actor.display(), &event, self.now()).await?;
        Ok(connection)
    }

    /// Today's connection test, and for a Custos platform the fingerprint of
    /// the signing certificate it serves now (fetched afresh).
    async fn check(&self, processor: &Processor, target: &Target) -> Result<Option<String>, RmError> {
        let mut failures = processor.check().await;
        let mut fingerprint = None;
        if failures.is_empty() && matches!(target, Target::BaseUrl(_)) {
            match self.processors.certificate(&processor.endpoints.dsr, Some(std::time::Duration::ZERO)).await {
                Ok(certificate) => fingerprint = Some(certificate.fingerprint().to_owned()),
                Err(error) => failures.push(CheckFailure {
                    credential: "workspace",
                    api: Api::Dsr,
                    status: None,
                    message: format!("The processor's signing certificate could not be read: {}.", error.cause()),
                    remedy: "Check that the platform's /v3/discovery names a processor_certificate it serves.".into(),
                }),
            }
        }
        if failures.is_empty() {
            Ok(fingerprint)
        } else {
            Err(RmError::ConnectionTest(failures))
        }
    }

    /// Runs a connection's test again; a Custos platform's certificate, if it
    /// rotated, is accepted and pinned anew. Returns the connection and the
    /// fingerprint it had before.
    pub async fn recheck_connection(&self, id: i64, actor: &Actor) -> Result<(Connection, Option<String>), RmError> {
        let stored = self
            .store
            .stored_connection(id)
            .await?
            .ok_or_else(|| RmError::NotFound(format!("no connection has id {id}")))?;
        let target = target_of(&stored.connection)?;
        let processor = self.processor_for(&stored)?;
        let fingerprint = self.check(&processor, &target).await?;
        let previous = stored.connection.certificate_sha256.clone();
        let connection = self
            .store
            .record_check(id, fingerprint.as_deref(), self.now())
            .await?
            .ok_or_else(|| RmError::NotFound(format!("no connection has id {id}")))?;
        let event = match (&previous, &fingerprint) {
            (Some(before), Some(now)) if before != now => {
                format!("re-checked `{}`: certificate {now} pinned, replacing {before}", connection.name)
            }
            (None, Some(now)) => format!("re-checked `{}`: certificate {now} pinned", connection.name),
            _ => format!("re-checked `{}`: every check passed", connection.name),
        };
        self.store.record_activity(&actor.display(), &event, self.now()).await?;
        Ok((connection, previous))
    }

    pub async fn remove_connection(&self, id: i64, actor: &Actor) -> Result<(), RmError> {
        if self.store.remove_connection(id, self.now()).await? {
            self.store.record_activity(&actor.display(), &format!("disconnected connection {id}"), self.now()).await?;
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
    /// OpenDSR `subject_request_id` is fixed here, before any attempt. The
    /// workflow places it: `verifying` (the subject is emailed a link),
    /// `awaiting_approval`, or `processing` (its jobs due at once).
    pub async fn create_request(&self, draft: RequestDraft, actor: &Actor) -> Result<RequestRecord, RmError> {
        let now = self.now();
        let spec = validate_request(draft, now, &self.config.intake).map_err(RmError::Invalid)?;
        let facts =
            Facts { kind: spec.kind, needs_approval: spec.needs_approval, has_email: spec.subject.email.is_some() };
        let status = next(RequestStatus::Received, facts, Action::Receive { verify: spec.verify })
            .map_err(|refused| RmError::invalid("verify", refused.to_string()))?;
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
        let new = NewRequest {
            id: uuid::Uuid::new_v4().to_string(),
            kind: spec.kind,
            regulation: spec.regulation,
            subject_sealed: self.key.seal(&encode_subject(&spec.subject)),
            subject_kinds: spec.subject.kinds().into_iter().map(str::to_owned).collect(),
            received_at: spec.received_at,
            deadline: spec.deadline,
            created_at: now,
            status,
            verify: spec.verify,
            needs_approval: spec.needs_approval,
            timer_at: None,
        };
        let entry = self.entry(new, spec.subject.email.as_deref());
        Ok(self
            .store
            .create_request(entry.request, jobs, entry.link, entry.mail, actor.audit_name(), entry.audit)
            .await?)
    }

    pub async fn request_detail(&self, id: &str) -> Result<RequestDetail, RmError> {
        self.store.request_detail(id).await?.ok_or_else(|| RmError::NotFound(format!("no request has id {id}")))
    }

    /// The package of an access request that has been processed, for an
    /// operator: each connection's results. The download is audited.
    pub async fn results_package(&self, id: &str, actor: &Actor) -> Result<Vec<u8>, RmError> {
        let package = self.package(id).await?;
        let event = "an operator downloaded the package";
        self.store.note(id, actor.audit_name().as_deref(), event, self.now()).await?;
        Ok(package)
    }

    /// The package of an access request that has been processed.
    pub(crate) async fn package(&self, id: &str) -> Result<Vec<u8>, RmError> {
        let detail = self.request_detail(id).await?;
        let request = &detail.request;
        if request.kind != RequestKind::Access {
            return Err(RmError::Conflict(format!(
                "request {id} is a {} request: only access requests have results",
                request.kind.as_str()
            )));
        }
        if !matches!(request.status, RequestStatus::Completed | RequestStatus::AwaitingDelivery) {
            return Err(RmError::Conflict(format!(
                "request {id} is {}: results are packaged once it is processed",
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
        package::build(request, &connections, self.now())
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

/// What a connection's processor certificate must satisfy before its
/// signatures are believed: for mParticle, a chain to the system's roots
/// naming the DSR host; for a Custos platform, the pinned certificate.
pub fn trust_of(connection: &Connection) -> Result<Trust, RmError> {
    let target = target_of(connection)?;
    Ok(match &target {
        Target::Pod(_) => {
            let dsr = target.endpoints().dsr;
            let domain =
                url::Url::parse(&dsr).ok().and_then(|url| url.host_str().map(str::to_owned)).unwrap_or_default();
            Trust::Chain { domain }
        }
        Target::BaseUrl(_) => match &connection.certificate_sha256 {
            Some(fingerprint) => Trust::Pinned(fingerprint.clone()),
            None => Trust::Unpinned,
        },
    })
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
