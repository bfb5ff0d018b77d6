//! Where callbacks may go. A request names its callback URLs, so without a
//! rule anyone with workspace credentials could make the server call into
//! its own private network. Public addresses are allowed; loopback, private,
//! link-local and other special ranges only when the operator allows them.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

#[derive(Debug, Clone, Default)]
pub(crate) struct CallbackPolicy {
    allowed: Vec<IpNet>,
}

impl CallbackPolicy {
    pub(crate) fn new(allowed: Vec<IpNet>) -> CallbackPolicy {
        CallbackPolicy { allowed }
    }

    pub(crate) fn allows(&self, ip: IpAddr) -> bool {
        is_public(ip) || self.allowed.iter().any(|net| net.contains(&ip))
    }

    /// Checks a callback URL as a request names it: scheme, host, and the
    /// address if the host is one (names are checked when resolved).
    pub(crate) fn check_url(&self, text: &str) -> Result<Url, BadCallbackUrl> {
        let url = Url::parse(text).map_err(BadCallbackUrl::NotUrl)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(BadCallbackUrl::Scheme);
        }
        let refused = |ip| Err(BadCallbackUrl::Refused(RefusedTarget { host: None, ip }));
        match url.host() {
            None => Err(BadCallbackUrl::NoHost),
            Some(url::Host::Ipv4(ip)) if !self.allows(IpAddr::V4(ip)) => refused(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) if !self.allows(IpAddr::V6(ip)) => refused(IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) if name.eq_ignore_ascii_case("localhost") => {
                if self.allows(IpAddr::from([127, 0, 0, 1])) {
                    Ok(url.clone())
                } else {
                    refused(IpAddr::from([127, 0, 0, 1]))
                }
            }
            _ => Ok(url),
        }
    }

    /// A resolver that drops the addresses this policy refuses, so that a
    /// name cannot lead the server into a private network.
    pub(crate) fn resolver(&self) -> Arc<PolicyResolver> {
        Arc::new(PolicyResolver { policy: self.clone() })
    }
}

/// Why a callback URL is refused as a request names it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BadCallbackUrl {
    #[error("not a URL ({0})")]
    NotUrl(url::ParseError),
    #[error("must be an http or https URL")]
    Scheme,
    #[error("has no host")]
    NoHost,
    #[error(transparent)]
    Refused(RefusedTarget),
}

/// An address the policy refuses, named by the URL (`host` is `None`) or
/// reached by resolving `host`. Retrying cannot make it allowed, so the
/// callback sender gives up at once when it finds this error behind a failed
/// send: the resolver returns it, and the HTTP client keeps it as a source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{}{ip} is on a private or reserved network; the operator may allow it with --allow-callback-network",
    host.as_deref().map(|host| format!("{host}: ")).unwrap_or_default()
)]
pub(crate) struct RefusedTarget {
    host: Option<String>,
    ip: IpAddr,
}

impl RefusedTarget {
    /// Whether `error`, or any error behind it, is a refused target.
    pub(crate) fn is_behind(error: &(dyn std::error::Error + 'static)) -> bool {
        std::iter::successors(Some(error), |error| error.source()).any(|error| error.is::<RefusedTarget>())
    }
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

pub(crate) struct PolicyResolver {
    policy: CallbackPolicy,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found.iter().copied().filter(|addr| policy.allows(addr.ip())).collect();
            match found.first() {
                _ if !allowed.is_empty() => {}
                Some(first) => return Err(Box::new(RefusedTarget { host: Some(host), ip: first.ip() }) as _),
                None => return Err(format!("{host}: no address").into()),
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_targets_need_the_operator_s_permission() {
        let strict = CallbackPolicy::default();
        for url in [
            "http://127.0.0.1:9/x",
            "http://10.1.2.3/",
            "http://[::1]/",
            "http://169.254.169.254/",
            "http://localhost/",
        ] {
            assert!(strict.check_url(url).is_err(), "{url}");
        }
        assert!(strict.check_url("https://203.0.113.5/").is_err(), "documentation range");
        assert!(strict.check_url("https://8.8.8.8/cb").is_ok());
        assert!(strict.check_url("https://controller.example/cb").is_ok());
        assert!(strict.check_url("ftp://controller.example/cb").is_err());
        let loopback = CallbackPolicy::new(vec!["127.0.0.1/32".parse().unwrap()]);
        assert!(loopback.check_url("http://127.0.0.1:9/x").is_ok());
        assert!(loopback.check_url("http://127.0.0.2:9/x").is_err());
    }

    #[tokio::test]
    async fn a_name_resolved_to_a_refused_address_is_told_apart_from_other_failures() {
        let client =
            |policy: &CallbackPolicy| reqwest::Client::builder().dns_resolver(policy.resolver()).build().unwrap();
        let refused = client(&CallbackPolicy::default()).get("http://localhost:9/").send().await.unwrap_err();
        assert!(RefusedTarget::is_behind(&refused), "{refused:?}");
        // Allowed, but nothing listens on the discard port: worth retrying.
        let allowed = CallbackPolicy::new(vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]);
        let unanswered = client(&allowed).get("http://localhost:9/").send().await.unwrap_err();
        assert!(!RefusedTarget::is_behind(&unanswered), "{unanswered:?}");
        let message = CallbackPolicy::default().check_url("http://10.1.2.3/").unwrap_err().to_string();
        assert_eq!(
            message,
            "10.1.2.3 is on a private or reserved network; the operator may allow it with --allow-callback-network"
        );
    }
}
