//! Connections: a platform (mParticle by pod, or Custos by base URL) and the
//! two credential pairs the Request Manager uses there.

use super::{required_text, FieldError};

/// mParticle's data hosting locations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pod {
    Us1,
    Us2,
    Eu1,
    Au1,
}

impl Pod {
    pub const ALL: [Pod; 4] = [Pod::Us1, Pod::Us2, Pod::Eu1, Pod::Au1];

    pub fn as_str(self) -> &'static str {
        match self {
            Pod::Us1 => "US1",
            Pod::Us2 => "US2",
            Pod::Eu1 => "EU1",
            Pod::Au1 => "AU1",
        }
    }

    /// Case-insensitive, as people type pods both ways.
    pub fn parse(text: &str) -> Option<Pod> {
        Pod::ALL.into_iter().find(|pod| pod.as_str().eq_ignore_ascii_case(text))
    }
}

/// Where a connection's platform answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Pod(Pod),
    /// A Custos platform (or anything serving mParticle's paths) at this URL, without a trailing `/`.
    BaseUrl(String),
}

/// The base URLs of the three APIs a connection uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Data Subject Request API v3 (workspace credentials).
    pub dsr: String,
    /// Identity API v1 (web input credentials).
    pub identity: String,
    /// Events API v2 (web input credentials).
    pub events: String,
}

impl Target {
    /// mParticle's hostnames per pod. The DSR API has one global host that
    /// routes by credentials; Identity and Events have one host per pod.
    pub fn endpoints(&self) -> Endpoints {
        match self {
            Target::Pod(pod) => {
                let pod = pod.as_str().to_ascii_lowercase();
                Endpoints {
                    dsr: "https://opendsr.mparticle.com/v3".into(),
                    identity: format!("https://identity.{pod}.mparticle.com/v1"),
                    events: format!("https://s2s.{pod}.mparticle.com/v2"),
                }
            }
            Target::BaseUrl(base) => {
                Endpoints { dsr: format!("{base}/v3"), identity: format!("{base}/v1"), events: format!("{base}/v2") }
            }
        }
    }
}

/// A key and its secret. The secret never appears in Debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub key: String,
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("key", &self.key).field("secret", &"***").finish()
    }
}

/// A connection as a client sent it, every field optional until validated.
#[derive(Debug, Default)]
pub struct ConnectionDraft {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub pod: Option<String>,
    pub base_url: Option<String>,
    pub workspace_key: Option<String>,
    pub workspace_secret: Option<String>,
    pub web_key: Option<String>,
    pub web_secret: Option<String>,
}

/// A valid connection, not yet tested against its platform.
#[derive(Debug, Clone)]
pub struct ConnectionSpec {
    pub name: String,
    pub target: Target,
    /// For the DSR API.
    pub workspace: Credentials,
    /// For the Identity and Events APIs.
    pub web: Credentials,
}

const MAX_NAME_CHARS: usize = 100;
const MAX_CREDENTIAL_CHARS: usize = 512;

/// Checks a draft, reporting every problem at once, each naming its field.
pub fn validate_connection(draft: ConnectionDraft) -> Result<ConnectionSpec, Vec<FieldError>> {
    let mut problems = Vec::new();
    let name = required_text(draft.name, "name", MAX_NAME_CHARS, &mut problems);
    match draft.kind.as_deref() {
        Some("mparticle") => {}
        None => problems.push(FieldError::new("type", "is required: mparticle")),
        Some(other) => problems.push(FieldError::new("type", format!("must be mparticle, not `{other}`"))),
    }
    let target = match (draft.pod, draft.base_url) {
        (Some(_), Some(_)) => {
            problems.push(FieldError::new("pod", "give either pod or base_url, not both"));
            None
        }
        (None, None) => {
            problems.push(FieldError::new("pod", "is required (US1, US2, EU1 or AU1) unless base_url is given"));
            None
        }
        (Some(pod), None) => Pod::parse(pod.trim()).map(Target::Pod).or_else(|| {
            problems.push(FieldError::new("pod", format!("must be US1, US2, EU1 or AU1, not `{pod}`")));
            None
        }),
        (None, Some(url)) => match base_url(&url) {
            Ok(url) => Some(Target::BaseUrl(url)),
            Err(message) => {
                problems.push(FieldError::new("base_url", message));
                None
            }
        },
    };
    let mut credential = |value, field| required_text(value, field, MAX_CREDENTIAL_CHARS, &mut problems);
    let workspace_key = credential(draft.workspace_key, "workspace_key");
    let workspace_secret = credential(draft.workspace_secret, "workspace_secret");
    let web_key = credential(draft.web_key, "web_key");
    let web_secret = credential(draft.web_secret, "web_secret");
    match (name, target, workspace_key, workspace_secret, web_key, web_secret) {
        (Some(name), Some(target), Some(wk), Some(ws), Some(bk), Some(bs)) if problems.is_empty() => {
            Ok(ConnectionSpec {
                name,
                target,
                workspace: Credentials { key: wk, secret: ws },
                web: Credentials { key: bk, secret: bs },
            })
        }
        _ => Err(problems),
    }
}

/// An http(s) URL with a host and nothing after the path, without its trailing `/`.
fn base_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .ok_or("must be an http:// or https:// URL")?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err("must name a host".into());
    }
    if text.contains(char::is_whitespace) || text.contains('?') || text.contains('#') || host.contains('@') {
        return Err("must be a plain URL: no spaces, credentials, query or fragment".into());
    }
    Ok(text.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> ConnectionDraft {
        ConnectionDraft {
            name: Some(" EU workspace ".into()),
            kind: Some("mparticle".into()),
            pod: Some("eu1".into()),
            base_url: None,
            workspace_key: Some("wk".into()),
            workspace_secret: Some("ws".into()),
            web_key: Some("bk".into()),
            web_secret: Some("bs".into()),
        }
    }

    #[test]
    fn a_pod_sets_mparticles_hosts() {
        let spec = validate_connection(draft()).unwrap();
        assert_eq!(spec.name, "EU workspace");
        assert_eq!(spec.target, Target::Pod(Pod::Eu1));
        assert_eq!(
            spec.target.endpoints(),
            Endpoints {
                dsr: "https://opendsr.mparticle.com/v3".into(),
                identity: "https://identity.eu1.mparticle.com/v1".into(),
                events: "https://s2s.eu1.mparticle.com/v2".into(),
            }
        );
    }

    #[test]
    fn a_base_url_sets_custos_paths() {
        let spec = validate_connection(ConnectionDraft {
            pod: None,
            base_url: Some("http://127.0.0.1:9000/".into()),
            ..draft()
        })
        .unwrap();
        let endpoints = spec.target.endpoints();
        assert_eq!(endpoints.dsr, "http://127.0.0.1:9000/v3");
        assert_eq!(endpoints.identity, "http://127.0.0.1:9000/v1");
        assert_eq!(endpoints.events, "http://127.0.0.1:9000/v2");
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let problems = validate_connection(ConnectionDraft {
            name: Some("  ".into()),
            kind: Some("segment".into()),
            pod: Some("US3".into()),
            web_secret: None,
            ..draft()
        })
        .unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["name", "type", "pod", "web_secret"]);
        let both = validate_connection(ConnectionDraft { base_url: Some("http://x".into()), ..draft() }).unwrap_err();
        assert_eq!(both[0].message, "give either pod or base_url, not both");
        for bad in ["ftp://x", "http://", "http://u:p@host", "http://host/?q=1"] {
            let problems =
                validate_connection(ConnectionDraft { pod: None, base_url: Some(bad.into()), ..draft() }).unwrap_err();
            assert_eq!(problems[0].field, "base_url", "{bad}");
        }
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let spec = validate_connection(draft()).unwrap();
        let text = format!("{spec:?}");
        assert!(text.contains("wk") && !text.contains("\"ws\"") && !text.contains("\"bs\""), "{text}");
    }
}
