//! [`WorkflowConfig`]: how requests are taken in and answered (`--verify`,
//! `--require-approval`, link lifetimes, the public URL links are made
//! under, SMTP), shared by `custos rm serve` and the CLI verbs that make links.

use time::Duration;
use url::Url;

use crate::domain::request::{Intake, Regulation, RequestKind};
use crate::mail::SmtpConfig;

#[derive(Debug, Clone)]
pub struct WorkflowConfig {
    pub intake: Intake,
    /// How long a verification link can be followed (7 days).
    pub verification_expiry: Duration,
    /// How long a download link works (7 days).
    pub delivery_link_expiry: Duration,
    /// How many times a download link works (3).
    pub delivery_link_downloads: i64,
    /// Links in mail, and invite links, are made under it.
    pub public_url: Url,
    /// Where mail goes; without it, mail is kept for sending by hand.
    pub smtp: Option<SmtpConfig>,
}

impl WorkflowConfig {
    /// The defaults: nothing verified or approved, links valid 7 days, 3 downloads, no SMTP.
    pub fn new(public_url: Url) -> WorkflowConfig {
        WorkflowConfig {
            intake: Intake::default(),
            verification_expiry: Duration::days(7),
            delivery_link_expiry: Duration::days(7),
            delivery_link_downloads: 3,
            public_url,
            smtp: None,
        }
    }

    /// `path` under the public URL, absolute.
    pub fn link(&self, path: &str) -> String {
        self.public_url.join(path).map(String::from).unwrap_or_else(|_| path.to_owned())
    }
}

/// A comma-separated list of regulations (`gdpr,ccpa`); empty is none.
pub fn parse_regulations(text: &str) -> Result<Vec<Regulation>, String> {
    parse_list(text, Regulation::parse, "a regulation: gdpr or ccpa")
}

/// A comma-separated list of request types (`access,deletion,opt_out`); empty is none.
pub fn parse_kinds(text: &str) -> Result<Vec<RequestKind>, String> {
    parse_list(text, RequestKind::parse, "a request type: access, deletion or opt_out")
}

fn parse_list<T: PartialEq>(text: &str, parse: fn(&str) -> Option<T>, what: &str) -> Result<Vec<T>, String> {
    let mut list = Vec::new();
    for item in text.split(',').map(str::trim).filter(|item| !item.is_empty()) {
        let value = parse(&item.to_ascii_lowercase()).ok_or_else(|| format!("`{item}` is not {what}"))?;
        if !list.contains(&value) {
            list.push(value);
        }
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_read_in_any_case_without_repeats() {
        assert_eq!(parse_regulations("GDPR, ccpa,gdpr").unwrap(), [Regulation::Gdpr, Regulation::Ccpa]);
        assert_eq!(parse_regulations("").unwrap(), []);
        assert_eq!(parse_kinds("access,opt_out").unwrap(), [RequestKind::Access, RequestKind::OptOut]);
        assert!(parse_kinds("access,erase").unwrap_err().contains("`erase`"));
    }

    #[test]
    fn links_are_absolute_under_the_public_url() {
        let config = WorkflowConfig::new(Url::parse("https://rm.example.com/").unwrap());
        assert_eq!(config.link("/verify/abc"), "https://rm.example.com/verify/abc");
    }
}
