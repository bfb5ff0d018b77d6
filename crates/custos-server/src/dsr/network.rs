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
    pub(crate) fn check_url(&self, text: &str) -> Result<Url, String> {
        let url = Url::parse(text).map_err(|e| format!("not a URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("must be an http or https URL".into());
        }
        match url.host() {
            None => Err("has no host".into()),
            Some(url::Host::Ipv4(ip)) if !self.allows(IpAddr::V4(ip)) => Err(refused(IpAddr::V4(ip))),
            Some(url::Host::Ipv6(ip)) if !self.allows(IpAddr::V6(ip)) => Err(refused(IpAddr::V6(ip))),
            Some(url::Host::Domain(name)) if name.eq_ignore_ascii_case("localhost") => {
                if self.allows(IpAddr::from([127, 0, 0, 1])) {
                    Ok(url.clone())
                } else {
                    Err(refused(IpAddr::from([127, 0, 0, 1])))
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

fn refused(ip: IpAddr) -> String {
    format!("{ip} is on a private or reserved network; the operator may allow it with --allow-callback-network")
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
            if allowed.is_empty() {
                let first = found.first().map(|addr| refused(addr.ip())).unwrap_or_else(|| "no address".into());
                return Err(format!("{host}: {first}").into());
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
}
