//! Protection of the console's forms against cross-site request forgery.
//!
//! Two checks, both on every state-changing form:
//! - a **token** in the form, derived from a secret the browser holds in an
//!   `HttpOnly` cookie: HMAC-SHA256 keyed by the session token once signed
//!   in, or by a random form secret before (sign-in and invite pages). A
//!   page of another site can neither read the cookie nor compute the token;
//!   the token does not reveal the cookie. Compared in constant time.
//! - the **origin**: when the browser says where the form came from
//!   (`Origin`, else `Referer`), it must be the service's public origin.

use axum::http::header::{ORIGIN, REFERER};
use axum::http::HeaderMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use url::Url;

use crate::secret::constant_time_eq;

/// The name of the hidden field that carries the token.
pub const CSRF_FIELD: &str = "csrf_token";

/// What the tokens are derived for; another use of the same secret would
/// take another label.
const LABEL: &[u8] = b"custos-kit console form v1";

/// The token a form carries, derived from a cookie's secret.
#[derive(Clone, PartialEq, Eq)]
pub struct CsrfToken(String);

impl std::fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfToken(..)")
    }
}

impl CsrfToken {
    /// The token for forms under `secret` (a session token or a form secret).
    pub fn derive(secret: &str) -> CsrfToken {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
        mac.update(LABEL);
        CsrfToken(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this token, in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        constant_time_eq(&self.0, presented)
    }
}

/// Whether `presented` is the token of one of `secrets`. Every secret is
/// tried, so timing does not tell which one matched.
pub fn token_matches(presented: &str, secrets: &[&str]) -> bool {
    secrets.iter().fold(false, |found, secret| CsrfToken::derive(secret).matches(presented) | found)
}

/// A form that says it came from somewhere else.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the form came from {found}, not from {expected}")]
pub struct ForeignOrigin {
    pub found: String,
    pub expected: String,
}

/// `https://host[:port]` of a URL, as browsers write `Origin`.
pub fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// Checks `Origin` (else `Referer`) against `expected`, when the browser sent one.
pub fn check_origin(headers: &HeaderMap, expected: &str) -> Result<(), ForeignOrigin> {
    let found = if let Some(origin) = headers.get(ORIGIN) {
        origin.to_str().unwrap_or("(unreadable)").to_owned()
    } else if let Some(referer) = headers.get(REFERER) {
        match referer.to_str().ok().and_then(|text| Url::parse(text).ok()) {
            Some(url) => origin_of(&url),
            None => "(an unreadable Referer)".to_owned(),
        }
    } else {
        return Ok(());
    };
    if found == expected {
        Ok(())
    } else {
        Err(ForeignOrigin { found, expected: expected.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn a_token_is_derived_from_its_secret_alone() {
        let token = CsrfToken::derive("session-secret");
        assert_eq!(token, CsrfToken::derive("session-secret"));
        assert_ne!(token, CsrfToken::derive("another-secret"));
        assert_eq!(token.as_str().len(), 43);
        assert!(!token.as_str().contains("session-secret"));
        assert!(!format!("{token:?}").contains(token.as_str()), "Debug hides the token");
    }

    #[test]
    fn a_form_is_accepted_with_the_token_of_one_of_its_cookies_only() {
        let token = CsrfToken::derive("form-secret");
        assert!(token.matches(token.as_str()));
        assert!(!token.matches(""));
        assert!(!token.matches(&token.as_str()[1..]));
        assert!(token_matches(token.as_str(), &["session-secret", "form-secret"]));
        assert!(!token_matches(token.as_str(), &["session-secret"]));
        assert!(!token_matches(token.as_str(), &[]));
        assert!(!token_matches("form-secret", &["form-secret"]), "the secret itself is not its token");
    }

    fn headers(pairs: &[(axum::http::HeaderName, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(name.clone(), HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn the_origin_must_be_the_public_one_when_the_browser_says_it() {
        let expected = origin_of(&Url::parse("http://127.0.0.1:8080/").unwrap());
        assert_eq!(expected, "http://127.0.0.1:8080");
        assert_eq!(check_origin(&headers(&[]), &expected), Ok(()));
        assert_eq!(check_origin(&headers(&[(ORIGIN, "http://127.0.0.1:8080")]), &expected), Ok(()));
        assert_eq!(check_origin(&headers(&[(REFERER, "http://127.0.0.1:8080/users?x=1")]), &expected), Ok(()));
        let foreign = check_origin(&headers(&[(ORIGIN, "http://127.0.0.1:8081")]), &expected).unwrap_err();
        assert_eq!(foreign.found, "http://127.0.0.1:8081", "another port is another origin");
        assert!(check_origin(&headers(&[(ORIGIN, "null")]), &expected).is_err());
        assert!(check_origin(&headers(&[(REFERER, "https://evil.example/form")]), &expected).is_err());
        assert!(check_origin(&headers(&[(REFERER, "not a url")]), &expected).is_err());
        // Origin wins over Referer.
        let both = headers(&[(ORIGIN, "https://evil.example"), (REFERER, "http://127.0.0.1:8080/")]);
        assert!(check_origin(&both, &expected).is_err());
    }

    #[test]
    fn https_origins_omit_the_default_port() {
        assert_eq!(
            origin_of(&Url::parse("https://privacy.example.com:443/base/").unwrap()),
            "https://privacy.example.com"
        );
    }
}
