//! Clients of processors: mParticle by pod, or a Custos platform by base
//! URL. A [`Processor`] is one connection's view, with its endpoints and
//! credentials; [`Processors`] holds what they share: the HTTP client, one
//! pacer per API and workspace, the counts, and the processors' certificates.

pub mod certificate;
pub mod check;
mod http;
pub mod opendsr;
pub mod trust;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::domain::connection::{Credentials, Endpoints};
use crate::domain::request::Subject;
use certificate::ProcessorCertificate;
use http::{origin, Attempts, Reply, Transport};
pub use http::{Api, ApiCounts, CallError, Metrics, PACING_SHARE};
use opendsr::{parse_status, StatusReport};

/// Largest API answer read.
const MAX_REPLY_BYTES: usize = 1024 * 1024;
/// Largest access results package downloaded.
pub const MAX_RESULTS_BYTES: usize = 256 * 1024 * 1024;
/// Attempts in memory for the worker's calls; it reschedules after them.
const WORKER_ATTEMPTS: Attempts = Attempts(3);
/// How long a processor's certificate is used before it is fetched again.
const CERTIFICATE_TTL: Duration = Duration::from_secs(60 * 60);
/// A certificate is fetched again on a signature mismatch at most this often.
const CERTIFICATE_REFRESH_GAP: Duration = Duration::from_secs(60);

struct CachedCertificate {
    certificate: Arc<ProcessorCertificate>,
    fetched_at: std::time::Instant,
}

/// What every connection's calls share.
pub struct Processors {
    transport: Transport,
    certificates: Mutex<HashMap<String, CachedCertificate>>,
}

impl Default for Processors {
    fn default() -> Processors {
        Processors::new(PACING_SHARE)
    }
}

impl Processors {
    /// Calls paced at `share` of each API's documented limit.
    pub fn new(share: f64) -> Processors {
        Processors { transport: Transport::new(share), certificates: Mutex::new(HashMap::new()) }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.transport.metrics
    }

    /// The signing certificate of the processor whose DSR API is at `dsr_base`,
    /// from its discovery endpoint; cached, and fetched again when `stale_after`
    /// has passed since the last fetch.
    pub async fn certificate(
        &self,
        dsr_base: &str,
        stale_after: Option<Duration>,
    ) -> Result<Arc<ProcessorCertificate>, CallError> {
        let max_age = stale_after.unwrap_or(CERTIFICATE_TTL);
        if let Some(cached) = self.certificates.lock().expect("certificates lock").get(dsr_base) {
            if cached.fetched_at.elapsed() < max_age {
                return Ok(cached.certificate.clone());
            }
        }
        let rejected = |cause: String| CallError::Rejected { cause };
        let discovery = self
            .transport
            .send(Api::Dsr, dsr_base, "", Attempts(2), MAX_REPLY_BYTES, |client| {
                client.get(format!("{dsr_base}/discovery"))
            })
            .await?;
        if discovery.status != StatusCode::OK {
            return Err(rejected(format!("the discovery endpoint answered HTTP {}", discovery.status.as_u16())));
        }
        let url = discovery
            .json()
            .and_then(|body| body["processor_certificate"].as_str().map(str::to_owned))
            .ok_or_else(|| rejected("the discovery document names no processor_certificate".into()))?;
        let pem = self
            .transport
            .send(Api::Dsr, dsr_base, "", Attempts(2), MAX_REPLY_BYTES, |client| client.get(&url))
            .await?;
        if pem.status != StatusCode::OK {
            return Err(rejected(format!("the processor certificate answered HTTP {}", pem.status.as_u16())));
        }
        let certificate = Arc::new(
            ProcessorCertificate::from_pem(&pem.body)
                .map_err(|error| rejected(format!("the processor certificate: {error}")))?,
        );
        self.certificates.lock().expect("certificates lock").insert(
            dsr_base.to_owned(),
            CachedCertificate { certificate: certificate.clone(), fetched_at: std::time::Instant::now() },
        );
        Ok(certificate)
    }

    /// Whether a signature mismatch may fetch the certificate again (it may have rotated).
    pub fn certificate_refresh_gap() -> Duration {
        CERTIFICATE_REFRESH_GAP
    }
}

/// One connection's processor.
#[derive(Clone)]
pub struct Processor {
    processors: Arc<Processors>,
    pub endpoints: Endpoints,
    workspace: Credentials,
    web: Credentials,
}

/// The outcome of a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submission {
    Submitted,
    /// `400 Subject request already exists.`: an earlier attempt got through.
    AlreadySubmitted,
    /// `409`: another open request covers the same subject and type.
    Overlapping,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Download {
    Results(Vec<u8>),
    /// 404: nothing matched the subject.
    NothingMatched,
    /// 410: the results expired.
    Expired,
}

impl Processor {
    pub fn new(
        processors: Arc<Processors>,
        endpoints: Endpoints,
        workspace: Credentials,
        web: Credentials,
    ) -> Processor {
        Processor { processors, endpoints, workspace, web }
    }

    fn transport(&self) -> &Transport {
        &self.processors.transport
    }

    fn refused(api: Api, credential: &str, reply: &Reply) -> CallError {
        CallError::Rejected {
            cause: format!(
                "the {} refused the {credential} key and secret (HTTP {})",
                api.name(),
                reply.status.as_u16()
            ),
        }
    }

    fn unexpected(api: Api, reply: &Reply) -> CallError {
        let detail = reply.message().map(|m| format!(": {m}")).unwrap_or_default();
        let cause = format!("the {} answered HTTP {}{detail}", api.name(), reply.status.as_u16());
        if reply.status.is_client_error() {
            CallError::Rejected { cause }
        } else {
            CallError::Transient { cause, retry_after: None }
        }
    }

    async fn identity_search(&self, identity_type: &str, value: &str, attempts: Attempts) -> Result<Reply, CallError> {
        let url = format!("{}/search", self.endpoints.identity);
        let body = json!({ "environment": "production", "known_identities": { identity_type: value } });
        self.transport()
            .send(Api::Identity, &self.endpoints.identity, &self.web.key, attempts, MAX_REPLY_BYTES, |client| {
                client.post(&url).basic_auth(&self.web.key, Some(&self.web.secret)).json(&body)
            })
            .await
    }

    /// The MPIDs of the profiles holding any of the subject's identities,
    /// each identity searched on its own so that none hides another.
    pub async fn search(&self, subject: &Subject) -> Result<Vec<String>, CallError> {
        let searches =
            [("email", &subject.email), ("customerid", &subject.customer_id), ("mobile_number", &subject.phone)];
        let mut mpids: Vec<String> = Vec::new();
        for (identity_type, value) in searches {
            let Some(value) = value else { continue };
            let reply = self.identity_search(identity_type, value, WORKER_ATTEMPTS).await?;
            match reply.status.as_u16() {
                200 => {
                    let mpid = reply.json().and_then(|body| match &body["mpid"] {
                        Value::String(mpid) => Some(mpid.clone()),
                        Value::Number(mpid) => Some(mpid.to_string()),
                        _ => None,
                    });
                    let mpid = mpid.ok_or_else(|| CallError::Rejected {
                        cause: "the Identity API answered 200 without an mpid".into(),
                    })?;
                    if !mpids.contains(&mpid) {
                        mpids.push(mpid);
                    }
                }
                404 => {}
                401 | 403 => return Err(Processor::refused(Api::Identity, "web", &reply)),
                _ => return Err(Processor::unexpected(Api::Identity, &reply)),
            }
        }
        Ok(mpids)
    }

    pub async fn submit(&self, body: &Value) -> Result<Submission, CallError> {
        let url = format!("{}/requests", self.endpoints.dsr);
        let reply = self
            .transport()
            .send(Api::Dsr, &self.endpoints.dsr, &self.workspace.key, WORKER_ATTEMPTS, MAX_REPLY_BYTES, |client| {
                client.post(&url).basic_auth(&self.workspace.key, Some(&self.workspace.secret)).json(body)
            })
            .await?;
        match reply.status.as_u16() {
            200..=299 => Ok(Submission::Submitted),
            400 if reply.message().is_some_and(|m| m.to_ascii_lowercase().contains("already exists")) => {
                Ok(Submission::AlreadySubmitted)
            }
            409 => Ok(Submission::Overlapping),
            401 | 403 => Err(Processor::refused(Api::Dsr, "workspace", &reply)),
            _ => Err(Processor::unexpected(Api::Dsr, &reply)),
        }
    }

    pub async fn status(&self, subject_request_id: &str) -> Result<StatusReport, CallError> {
        let url = format!("{}/requests/{subject_request_id}", self.endpoints.dsr);
        let reply = self
            .transport()
            .send(Api::Dsr, &self.endpoints.dsr, &self.workspace.key, WORKER_ATTEMPTS, MAX_REPLY_BYTES, |client| {
                client.get(&url).basic_auth(&self.workspace.key, Some(&self.workspace.secret))
            })
            .await?;
        match reply.status.as_u16() {
            200 => reply.json().as_ref().and_then(parse_status).ok_or_else(|| CallError::Transient {
                cause: "the DSR API answered a status this version does not understand".into(),
                retry_after: None,
            }),
            404 => Err(CallError::Rejected { cause: "the processor does not know this request (HTTP 404)".into() }),
            401 | 403 => Err(Processor::refused(Api::Dsr, "workspace", &reply)),
            _ => Err(Processor::unexpected(Api::Dsr, &reply)),
        }
    }

    /// Fetches an access request's results. The workspace credentials go
    /// only to the DSR API's own host.
    pub async fn download(&self, results_url: &str) -> Result<Download, CallError> {
        if origin(results_url) != origin(&self.endpoints.dsr) {
            return Err(CallError::Rejected {
                cause: "the results_url is not on the DSR API's host; credentials are not sent elsewhere".into(),
            });
        }
        let reply = self
            .transport()
            .send(Api::Dsr, &self.endpoints.dsr, &self.workspace.key, WORKER_ATTEMPTS, MAX_RESULTS_BYTES, |client| {
                client.get(results_url).basic_auth(&self.workspace.key, Some(&self.workspace.secret))
            })
            .await?;
        match reply.status.as_u16() {
            200 => Ok(Download::Results(reply.body)),
            404 => Ok(Download::NothingMatched),
            410 => Ok(Download::Expired),
            401 | 403 => Err(Processor::refused(Api::Dsr, "workspace", &reply)),
            _ => Err(Processor::unexpected(Api::Dsr, &reply)),
        }
    }

    /// Records a CCPA opt-out of sale and sharing on the profile `mpid`.
    /// `source_request_id` makes a retried batch a duplicate, not a second one.
    pub async fn send_opt_out(&self, mpid: &str, source_request_id: &str, at: OffsetDateTime) -> Result<(), CallError> {
        let url = format!("{}/events", self.endpoints.events);
        let at_ms = (at.unix_timestamp_nanos() / 1_000_000) as i64;
        let batch = json!({
            "environment": "production",
            "mpid": mpid,
            "source_request_id": source_request_id,
            "consent_state": { "ccpa": { "data_sale_opt_out": {
                "consented": true,
                "document": "custos-rm: CCPA request to opt out of sale or sharing",
                "timestamp_unixtime_ms": at_ms,
            }}},
            "events": [],
        });
        let reply = self
            .transport()
            .send(Api::Events, &self.endpoints.events, &self.web.key, WORKER_ATTEMPTS, MAX_REPLY_BYTES, |client| {
                client.post(&url).basic_auth(&self.web.key, Some(&self.web.secret)).json(&batch)
            })
            .await?;
        match reply.status.as_u16() {
            200..=299 => Ok(()),
            401 | 403 => Err(Processor::refused(Api::Events, "web", &reply)),
            _ => Err(Processor::unexpected(Api::Events, &reply)),
        }
    }
}
