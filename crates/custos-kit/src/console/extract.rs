//! The extractors a console's handlers take: [`SignedIn`], the person
//! behind the request's session, and [`CsrfForm`], a form whose CSRF token
//! and origin were checked.
//!
//! ```text
//! async fn users<S: ConsoleService>(signed_in: SignedIn<S>) -> Response { … }
//! async fn invite<S: ConsoleService>(signed_in: SignedIn<S>, CsrfForm(form): CsrfForm<InviteForm>) -> Response { … }
//! ```
//! `CsrfForm` reads the body, so it comes last.

use axum::body::to_bytes;
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequestParts, Request};
use axum::http::header::{CONTENT_TYPE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use custos_core::access::UserEmail;
use serde::de::DeserializeOwned;

use super::csrf::{check_origin, token_matches, CsrfToken, CSRF_FIELD};
use super::error::{server_error_response, ConsoleError};
use super::flash::{see_other, Flash};
use super::layout::Shell;
use super::pages::{form_refused, FormRefusal};
use super::redirect::sign_in_location;
use super::service::ConsoleService;
use crate::secret;

/// The largest form body read: far above any console form.
const MAX_FORM_BYTES: usize = 256 * 1024;

/// A signed-in person: their email, who they are to the service (loaded
/// from its store on this request), and the CSRF token for their forms.
///
/// Without an open session, a request is sent to `/login` (303), with
/// `next` set to the page asked for when it was a `GET`.
pub struct SignedIn<S: ConsoleService> {
    pub email: UserEmail,
    pub principal: S::Principal,
    pub csrf: CsrfToken,
}

impl<S: ConsoleService> std::fmt::Debug for SignedIn<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn").field("email", &self.email).finish_non_exhaustive()
    }
}

/// What the request's session cookie amounts to.
pub(crate) enum SessionState<S: ConsoleService> {
    Open(SignedIn<S>),
    /// There was a session; it has ended (idle too long, signed out
    /// elsewhere, the person's access removed).
    Ended,
    /// No session cookie.
    Absent,
}

/// Looks the request's session up in the store, and its person up in the
/// service, on every call (no cache: a removal takes effect at once).
/// Ended sessions are deleted; an open one's use is recorded.
pub(crate) async fn find_session<S: ConsoleService>(
    service: &S,
    headers: &HeaderMap,
) -> Result<SessionState<S>, ConsoleError> {
    let console = service.console();
    let Some(token) = console.config().cookies().session.read(headers) else {
        return Ok(SessionState::Absent);
    };
    let accounts = console.accounts();
    let digest = secret::digest(token);
    let Some(session) = accounts.session(&digest).await? else {
        return Ok(SessionState::Ended);
    };
    let now = console.now();
    let idle = console.config().idle;
    if !idle.is_live(session.last_seen_at, now) {
        accounts.delete_session(&digest).await?;
        return Ok(SessionState::Ended);
    }
    let Some(principal) = service.principal(&session.email).await? else {
        accounts.delete_session(&digest).await?;
        return Ok(SessionState::Ended);
    };
    if idle.needs_touch(session.last_seen_at, now) {
        accounts.touch_session(&digest, now).await?;
    }
    Ok(SessionState::Open(SignedIn { email: session.email, principal, csrf: CsrfToken::derive(token) }))
}

impl<S: ConsoleService> FromRequestParts<S> for SignedIn<S> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, service: &S) -> Result<SignedIn<S>, Response> {
        let console = service.console();
        let ended = match find_session(service, &parts.headers).await {
            Ok(SessionState::Open(signed_in)) => return Ok(signed_in),
            Ok(SessionState::Ended) => true,
            Ok(SessionState::Absent) => false,
            Err(error) => return Err(server_error_response(console, &error)),
        };
        let next = if matches!(parts.method, Method::GET | Method::HEAD) {
            parts.uri.path_and_query().map(|path| path.as_str())
        } else {
            None
        };
        let mut response = see_other(&sign_in_location(next));
        if ended {
            let cookies = console.config().cookies();
            let headers = response.headers_mut();
            headers.append(SET_COOKIE, cookies.session.clear());
            headers.append(
                SET_COOKIE,
                Flash::info("Your session has ended. Sign in again to continue.").cookie(&cookies.flash),
            );
        }
        Err(response)
    }
}

/// `Option<SignedIn<S>>`: the person if signed in, `None` otherwise (a
/// page anyone may see, drawn with the navigation when someone is signed in).
impl<S: ConsoleService> OptionalFromRequestParts<S> for SignedIn<S> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, service: &S) -> Result<Option<SignedIn<S>>, Response> {
        match find_session(service, &parts.headers).await {
            Ok(SessionState::Open(signed_in)) => Ok(Some(signed_in)),
            Ok(SessionState::Ended | SessionState::Absent) => Ok(None),
            Err(error) => Err(server_error_response(service.console(), &error)),
        }
    }
}

/// A submitted form, read into `T` once its origin (when the browser gives
/// one) is the service's public origin and its `csrf_token` field is the
/// token of the request's session cookie or form cookie. Refused otherwise,
/// with a page: 403 (token, origin), 400 (not a form, or not `T`), 413.
///
/// `T` is read with `serde_html_form`: repeated fields (a checkbox per row)
/// go into a `Vec`. Make fields `String`s with `#[serde(default)]` and check
/// them in the handler, so that bad input gets the form back with messages
/// (422) rather than this 400.
#[derive(Debug, Clone)]
pub struct CsrfForm<T>(pub T);

impl<S: ConsoleService, T: DeserializeOwned> FromRequest<S> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, service: &S) -> Result<CsrfForm<T>, Response> {
        let config = service.console().config();
        let refuse = |refusal: FormRefusal| form_refused(&Shell::bare(config.product_name()), &refusal);
        let (parts, body) = request.into_parts();
        if let Err(foreign) = check_origin(&parts.headers, config.public_origin()) {
            return Err(refuse(FormRefusal::ForeignOrigin { found: foreign.found, expected: foreign.expected }));
        }
        if !is_url_encoded_form(&parts.headers) {
            return Err(refuse(FormRefusal::Malformed));
        }
        let bytes = to_bytes(body, MAX_FORM_BYTES).await.map_err(|_| refuse(FormRefusal::TooLarge))?;
        let presented = url::form_urlencoded::parse(&bytes)
            .find(|(name, _)| name == CSRF_FIELD)
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default();
        let cookies = config.cookies();
        let secrets: Vec<&str> =
            [cookies.session.read(&parts.headers), cookies.form.read(&parts.headers)].into_iter().flatten().collect();
        if presented.is_empty() || !token_matches(&presented, &secrets) {
            return Err(refuse(FormRefusal::Expired));
        }
        let value = serde_html_form::from_bytes(&bytes).map_err(|_| refuse(FormRefusal::Malformed))?;
        Ok(CsrfForm(value))
    }
}

fn is_url_encoded_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn only_url_encoded_bodies_are_forms() {
        let mut headers = HeaderMap::new();
        assert!(!is_url_encoded_form(&headers));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded; charset=UTF-8"));
        assert!(is_url_encoded_form(&headers));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert!(!is_url_encoded_form(&headers));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("multipart/form-data; boundary=x"));
        assert!(!is_url_encoded_form(&headers));
    }
}
