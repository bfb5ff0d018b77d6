//! The connection test run before a connection is saved: the workspace
//! credentials against the DSR API, the web credentials against the
//! Identity and Events APIs, each without changing anything there.
//!
//! A failure says which credential failed, against which API, with what
//! status, and what to do about it (the integration guide's troubleshooting:
//! permissions on the keys, the user's role, the pod).

use serde_json::json;

use super::http::{Attempts, CallError, Reply};
use super::{Api, Processor, MAX_REPLY_BYTES};

const CHECK_ATTEMPTS: Attempts = Attempts(2);

/// An address no profile can hold (`.invalid` is reserved), for the Identity check.
const CHECK_EMAIL: &str = "connection-check@custos-rm.invalid";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFailure {
    /// `workspace` or `web`.
    pub credential: &'static str,
    pub api: Api,
    /// The HTTP status, if the API answered.
    pub status: Option<u16>,
    pub message: String,
    pub remedy: String,
}

const WORKSPACE_REMEDY: &str = "Copy the Workspace Key and Workspace Secret from mParticle's Settings > Workspace \
    (not an input's keys), with data privacy controls enabled on that workspace. The keys must be granted the \
    permissions the Data Subject Request API needs, and the person connecting needs the Admin user role in \
    mParticle: connections fail when the user's role or the account type does not match.";

const WEB_REMEDY: &str = "Issue keys for the Web input (Setup > Inputs > Web > Issue Keys) and copy the Web Key \
    and Web Secret. The keys must be granted the permissions the Identity and Events APIs need, and the person \
    connecting needs the Admin user role in mParticle: connections fail when the user's role or the account type \
    does not match.";

const REACH_REMEDY: &str = "Check the pod (data center) the mParticle account uses, or the base URL, and that \
    the platform is up and reachable from the Request Manager.";

const UNEXPECTED_REMEDY: &str = "Check that the pod or base URL points at an mParticle-compatible platform. A 5xx \
    or 429 is the platform's own trouble, not the credentials': try again later.";

impl CheckFailure {
    fn of(
        api: Api,
        credential: &'static str,
        url: &str,
        outcome: Result<Reply, CallError>,
        ok: &[u16],
    ) -> Option<CheckFailure> {
        let remedy = if credential == "workspace" { WORKSPACE_REMEDY } else { WEB_REMEDY };
        let reply = match outcome {
            Ok(reply) => reply,
            Err(error) => {
                return Some(CheckFailure {
                    credential,
                    api,
                    status: None,
                    message: format!("{} ({url}).", error.cause()),
                    remedy: REACH_REMEDY.into(),
                })
            }
        };
        let status = reply.status.as_u16();
        if ok.contains(&status) {
            return None;
        }
        Some(match status {
            401 | 403 => CheckFailure {
                credential,
                api,
                status: Some(status),
                message: format!("The {} at {url} refused the {credential} key and secret: HTTP {status}.", api.name()),
                remedy: remedy.into(),
            },
            _ => CheckFailure {
                credential,
                api,
                status: Some(status),
                message: format!(
                    "The {} at {url} answered the {credential} credential check with HTTP {status}.",
                    api.name()
                ),
                remedy: UNEXPECTED_REMEDY.into(),
            },
        })
    }
}

impl Processor {
    /// Tests both credential pairs against the three APIs, all at once.
    /// Empty when everything passed.
    pub async fn check(&self) -> Vec<CheckFailure> {
        let (dsr, identity, events) = tokio::join!(self.check_dsr(), self.check_identity(), self.check_events());
        [dsr, identity, events].into_iter().flatten().collect()
    }

    /// `GET /requests/0`: valid credentials get 404 (no such request), others 401.
    async fn check_dsr(&self) -> Option<CheckFailure> {
        let url = format!("{}/requests/0", self.endpoints.dsr);
        let outcome = self
            .transport()
            .send(Api::Dsr, &self.endpoints.dsr, &self.workspace.key, CHECK_ATTEMPTS, MAX_REPLY_BYTES, |client| {
                client.get(&url).basic_auth(&self.workspace.key, Some(&self.workspace.secret))
            })
            .await;
        CheckFailure::of(Api::Dsr, "workspace", &self.endpoints.dsr, outcome, &[404, 200])
    }

    /// A search for an address nobody has: 404 (or 200) once the credentials are accepted.
    async fn check_identity(&self) -> Option<CheckFailure> {
        let outcome = self.identity_search("email", CHECK_EMAIL, CHECK_ATTEMPTS).await;
        CheckFailure::of(Api::Identity, "web", &self.endpoints.identity, outcome, &[404, 200])
    }

    /// A batch that fails validation, which comes after authentication: 400
    /// means the credentials were accepted, and nothing is stored.
    async fn check_events(&self) -> Option<CheckFailure> {
        let url = format!("{}/events", self.endpoints.events);
        let invalid = json!({ "environment": "production", "events": "connection check" });
        let outcome = self
            .transport()
            .send(Api::Events, &self.endpoints.events, &self.web.key, CHECK_ATTEMPTS, MAX_REPLY_BYTES, |client| {
                client.post(&url).basic_auth(&self.web.key, Some(&self.web.secret)).json(&invalid)
            })
            .await;
        CheckFailure::of(Api::Events, "web", &self.endpoints.events, outcome, &[400, 200, 202])
    }
}
