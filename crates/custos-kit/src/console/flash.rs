//! Flash messages: what a form's redirect tells the next page ("User
//! invited"), carried in a short-lived cookie of the service's own and
//! cleared by the page that shows it.
//!
//! ```text
//! async fn invite(service: State<S>, …) -> Response {
//!     …
//!     redirect_with_flash(service.console(), "/users", Flash::success("Invitation sent"))
//! }
//! async fn users(signed_in: SignedIn<S>, flashes: Flashes) -> impl IntoResponse {
//!     let shell = Shell::signed_in(…).with_flashes(flashes.messages());
//!     let body = page(&shell, "Users", …);
//!     (flashes, page_response(StatusCode::OK, body))
//! }
//! ```

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, IntoResponseParts, Response, ResponseParts};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use time::Duration;

use super::service::{Console, ConsoleService};
use super::session::CookieSpec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashKind {
    /// Something done as asked ("User invited"): green, announced politely.
    Success,
    /// Something to know ("You have signed out"): neutral, announced politely.
    Info,
    /// Something that failed: red, announced at once.
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub kind: FlashKind,
    pub message: String,
}

/// How long a flash waits for the page it is meant for.
const FLASH_MAX_AGE: Duration = Duration::minutes(1);
/// Longer messages are cut, to keep the cookie small.
const MAX_MESSAGE_BYTES: usize = 1000;

impl Flash {
    pub fn success(message: impl Into<String>) -> Flash {
        Flash { kind: FlashKind::Success, message: message.into() }
    }

    pub fn info(message: impl Into<String>) -> Flash {
        Flash { kind: FlashKind::Info, message: message.into() }
    }

    pub fn error(message: impl Into<String>) -> Flash {
        Flash { kind: FlashKind::Error, message: message.into() }
    }

    /// The cookie value: `s.`, `i.` or `e.`, then the message in URL-safe base64.
    fn encode(&self) -> String {
        let mut end = self.message.len().min(MAX_MESSAGE_BYTES);
        while !self.message.is_char_boundary(end) {
            end -= 1;
        }
        let kind = match self.kind {
            FlashKind::Success => "s",
            FlashKind::Info => "i",
            FlashKind::Error => "e",
        };
        format!("{kind}.{}", URL_SAFE_NO_PAD.encode(&self.message.as_bytes()[..end]))
    }

    fn decode(value: &str) -> Option<Flash> {
        let (kind, message) = value.split_once('.')?;
        let kind = match kind {
            "s" => FlashKind::Success,
            "i" => FlashKind::Info,
            "e" => FlashKind::Error,
            _ => return None,
        };
        let message = String::from_utf8(URL_SAFE_NO_PAD.decode(message).ok()?).ok()?;
        Some(Flash { kind, message })
    }

    /// The `Set-Cookie` value that carries this flash.
    pub fn cookie(&self, spec: &CookieSpec) -> HeaderValue {
        spec.set(&self.encode(), Some(FLASH_MAX_AGE))
    }
}

/// A 303 to `location` (a path of this site) that carries `flash` there.
pub fn redirect_with_flash(console: &Console, location: &str, flash: Flash) -> Response {
    let mut response = see_other(location);
    response.headers_mut().append(SET_COOKIE, flash.cookie(&console.config().cookies().flash));
    response
}

/// A 303 See Other to `location`, as every form answers on success.
pub fn see_other(location: &str) -> Response {
    let location = HeaderValue::from_str(location).unwrap_or_else(|_| HeaderValue::from_static("/"));
    (StatusCode::SEE_OTHER, [(LOCATION, location)]).into_response()
}

/// The flash messages a request brought, if any. As a response part, it
/// clears the cookie that carried them, so each is shown once.
#[derive(Debug, Clone)]
pub struct Flashes {
    messages: Vec<Flash>,
    clear: Option<HeaderValue>,
}

impl Flashes {
    pub fn messages(&self) -> &[Flash] {
        &self.messages
    }
}

impl<S: ConsoleService> FromRequestParts<S> for Flashes {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, service: &S) -> Result<Flashes, Infallible> {
        let spec = &service.console().config().cookies().flash;
        let Some(value) = spec.read(&parts.headers) else {
            return Ok(Flashes { messages: Vec::new(), clear: None });
        };
        Ok(Flashes { messages: Flash::decode(value).into_iter().collect(), clear: Some(spec.clear()) })
    }
}

impl IntoResponseParts for Flashes {
    type Error = Infallible;

    fn into_response_parts(self, mut response: ResponseParts) -> Result<ResponseParts, Infallible> {
        if let Some(clear) = self.clear {
            response.headers_mut().append(SET_COOKIE, clear);
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flash_survives_its_cookie() {
        for flash in [
            Flash::success("User ann@example.com invited"),
            Flash::info("Signed out"),
            Flash::error("Ünïcode; \"quoted\""),
        ] {
            assert_eq!(Flash::decode(&flash.encode()), Some(flash));
        }
        assert_eq!(Flash::decode("x.abc"), None);
        assert_eq!(Flash::decode("garbage"), None);
    }

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let flash = Flash::success("é".repeat(MAX_MESSAGE_BYTES));
        let decoded = Flash::decode(&flash.encode()).unwrap();
        assert_eq!(decoded.message.len(), MAX_MESSAGE_BYTES);
    }

    #[test]
    fn the_cookie_lasts_a_minute() {
        let spec = CookieSpec::new("custos_session_flash", false).unwrap();
        let header = Flash::success("Done").cookie(&spec);
        assert!(header.to_str().unwrap().starts_with("custos_session_flash=s.RG9uZQ; Max-Age=60; Path=/; HttpOnly"));
    }
}
