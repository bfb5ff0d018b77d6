//! The console's cookies and the idle expiry of sessions.
//!
//! A session is an opaque 256-bit token in a cookie; the store holds its
//! SHA-256 digest. Every cookie is `HttpOnly` (scripts never read it),
//! `SameSite=Lax` (cross-site form posts do not carry it), `Path=/`, and
//! `Secure` when the service's public URL is https.
//!
//! Browsers share cookies between ports of one host, and both services may
//! run on one host: each service names its cookies after its own session
//! cookie (`custos_session`, `custos_rm_session`), so they never collide.

use axum::http::header::COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use time::{Duration, OffsetDateTime};

/// A cookie name that is not a plain token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cookie name {0:?}: use 1 to 64 ASCII letters, digits, '_' or '-'")]
pub struct InvalidCookieName(pub String);

/// How one of the console's cookies is named and sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieSpec {
    name: String,
    secure: bool,
}

impl CookieSpec {
    pub fn new(name: &str, secure: bool) -> Result<CookieSpec, InvalidCookieName> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-');
        if !valid {
            return Err(InvalidCookieName(name.to_owned()));
        }
        Ok(CookieSpec { name: name.to_owned(), secure })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `Set-Cookie` value that stores `value` until the browser closes,
    /// or for `max_age` when given. `value` must be cookie-safe (URL-safe
    /// base64 is): this is checked, and anything else is not sent.
    pub fn set(&self, value: &str, max_age: Option<Duration>) -> HeaderValue {
        let value = if is_cookie_safe(value) { value } else { "" };
        let max_age = max_age.map(|age| format!("; Max-Age={}", age.whole_seconds().max(0))).unwrap_or_default();
        self.header(&format!("{}={value}{max_age}", self.name))
    }

    /// The `Set-Cookie` value that removes the cookie.
    pub fn clear(&self) -> HeaderValue {
        self.header(&format!("{}=; Max-Age=0", self.name))
    }

    fn header(&self, start: &str) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!("{start}; Path=/; HttpOnly; SameSite=Lax{secure}"))
            .expect("a cookie of a checked name and value is a valid header")
    }

    /// The cookie's value in a request, if it has one that is not empty.
    pub fn read<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        cookie_value(headers, &self.name).filter(|value| !value.is_empty())
    }
}

fn is_cookie_safe(value: &str) -> bool {
    value.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~'))
}

/// The value of the first cookie called `name` in the request's `Cookie`
/// headers (HTTP/2 may split them into several).
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|header| header.to_str().ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().trim_matches('"'))
}

/// The cookies of one service's console, all named after its session cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleCookies {
    /// The session token.
    pub session: CookieSpec,
    /// A random secret for the CSRF tokens of forms shown before sign-in
    /// (`<name>_form`).
    pub form: CookieSpec,
    /// A message for the next page after a redirect (`<name>_flash`).
    pub flash: CookieSpec,
}

impl ConsoleCookies {
    pub fn new(session_name: &str, secure: bool) -> Result<ConsoleCookies, InvalidCookieName> {
        Ok(ConsoleCookies {
            session: CookieSpec::new(session_name, secure)?,
            form: CookieSpec::new(&format!("{session_name}_form"), secure)?,
            flash: CookieSpec::new(&format!("{session_name}_flash"), secure)?,
        })
    }
}

/// When a session ends for want of use, and how often its use is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdlePolicy {
    /// A session unused this long has ended.
    pub idle_timeout: Duration,
    /// Use is written to the store at most this often, so that a burst of
    /// page loads costs one write.
    pub touch_interval: Duration,
}

impl IdlePolicy {
    /// Twelve hours idle; use recorded at most once a minute.
    pub const DEFAULT: IdlePolicy =
        IdlePolicy { idle_timeout: Duration::hours(12), touch_interval: Duration::minutes(1) };

    /// Whether a session last used at `last_seen_at` is still open at `now`.
    pub fn is_live(&self, last_seen_at: OffsetDateTime, now: OffsetDateTime) -> bool {
        now < last_seen_at + self.idle_timeout
    }

    /// Whether this use should be recorded (the idle expiry slides).
    pub fn needs_touch(&self, last_seen_at: OffsetDateTime, now: OffsetDateTime) -> bool {
        now - last_seen_at >= self.touch_interval
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn cookies_are_http_only_lax_on_the_whole_site() {
        let cookie = CookieSpec::new("custos_session", false).unwrap();
        assert_eq!(cookie.set("abc-_123", None), "custos_session=abc-_123; Path=/; HttpOnly; SameSite=Lax");
        assert_eq!(cookie.clear(), "custos_session=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax");
        assert_eq!(
            cookie.set("x", Some(Duration::minutes(1))),
            "custos_session=x; Max-Age=60; Path=/; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn cookies_are_secure_only_for_https() {
        let cookie = CookieSpec::new("custos_rm_session", true).unwrap();
        assert_eq!(cookie.set("abc", None), "custos_rm_session=abc; Path=/; HttpOnly; SameSite=Lax; Secure");
        assert_eq!(cookie.clear(), "custos_rm_session=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax; Secure");
    }

    #[test]
    fn a_value_that_could_break_the_header_is_not_sent() {
        let cookie = CookieSpec::new("s", false).unwrap();
        assert_eq!(cookie.set("a; Domain=evil.example", None), "s=; Path=/; HttpOnly; SameSite=Lax");
    }

    #[test]
    fn cookie_names_are_plain_tokens() {
        for bad in ["", "a b", "a;b", "a=b", "ä", &"x".repeat(65)] {
            assert_eq!(CookieSpec::new(bad, false), Err(InvalidCookieName(bad.to_owned())));
        }
        let cookies = ConsoleCookies::new("custos_rm_session", false).unwrap();
        assert_eq!(cookies.form.name(), "custos_rm_session_form");
        assert_eq!(cookies.flash.name(), "custos_rm_session_flash");
    }

    #[test]
    fn each_service_reads_its_own_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("custos_session=platform; custos_rm_session=rm"));
        headers.append(COOKIE, HeaderValue::from_static("other=1; custos_session_form=form"));
        let platform = CookieSpec::new("custos_session", false).unwrap();
        let rm = CookieSpec::new("custos_rm_session", false).unwrap();
        assert_eq!(platform.read(&headers), Some("platform"));
        assert_eq!(rm.read(&headers), Some("rm"));
        assert_eq!(cookie_value(&headers, "custos_session_form"), Some("form"));
        assert_eq!(cookie_value(&headers, "missing"), None);
        let mut empty = HeaderMap::new();
        empty.insert(COOKIE, HeaderValue::from_static("custos_session="));
        assert_eq!(platform.read(&empty), None);
    }

    #[test]
    fn a_session_ends_after_twelve_idle_hours_and_use_slides_the_end() {
        let policy = IdlePolicy::DEFAULT;
        let seen = datetime!(2025-01-01 09:00 UTC);
        assert!(policy.is_live(seen, seen + Duration::hours(12) - Duration::seconds(1)));
        assert!(!policy.is_live(seen, seen + Duration::hours(12)));
        assert!(!policy.needs_touch(seen, seen + Duration::seconds(59)));
        assert!(policy.needs_touch(seen, seen + Duration::minutes(1)));
    }
}
