//! The routes every console has, for a service to merge into its router:
//!
//! | route | what |
//! |---|---|
//! | `GET /login` | the sign-in form (`?next=` a page of this site) |
//! | `POST /login` | sign in: 303 to `next` with a session cookie; 422 with the form and "Incorrect email or password"; 429 while locked out |
//! | `GET /invite/{token}` | the set-password form of an invite or reset link; 410 when used or expired, 404 when unknown |
//! | `POST /invite/{token}` | set the password (422 at the field if refused), sign in, 303 to `/` |
//! | `POST /logout` | end the session, 303 to `/login` |
//! | `GET /assets/{file}` | the stylesheet and script, under content-hashed names |

use axum::extract::{Path, State};
use axum::http::header::{RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use custos_core::access::{InvalidEmail, UserEmail};
use serde::Deserialize;
use time::OffsetDateTime;

use super::accounts::{LinkState, NewSession, Redemption};
use super::assets;
use super::csrf::CsrfToken;
use super::error::{server_error_response, ConsoleError};
use super::extract::{find_session, CsrfForm, SessionState};
use super::flash::{see_other, Flash, Flashes};
use super::form::FormErrors;
use super::layout::page_response;
use super::pages::{self, SignInValues};
use super::redirect::{after_sign_in, safe_next};
use super::service::{Console, ConsoleEvent, ConsoleService, SignInRefusal};
use crate::password::{check_new_password, hash_password, verify_password_or_dummy};
use crate::secret;

/// What "Incorrect email or password" says, whichever was wrong.
pub const INCORRECT_CREDENTIALS: &str = "Incorrect email or password";

/// The console's own routes, for `S`'s router.
pub fn router<S: ConsoleService>() -> Router<S> {
    Router::new()
        .route("/login", get(show_sign_in::<S>).post(sign_in::<S>))
        .route("/invite/{token}", get(show_set_password::<S>).post(set_password::<S>))
        .route("/logout", post(sign_out::<S>))
        .route("/assets/{file}", get(assets::serve))
}

/// Runs a handler's body; a failure becomes the logged 500 page.
fn respond(console: &Console, outcome: Result<Response, ConsoleError>) -> Response {
    outcome.unwrap_or_else(|error| server_error_response(console, &error))
}

fn with_cookies(mut response: Response, cookies: impl IntoIterator<Item = HeaderValue>) -> Response {
    for cookie in cookies {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

/// The secret of the pre-sign-in forms' CSRF tokens: the form cookie's, or
/// a new one with the `Set-Cookie` that stores it.
fn form_secret(console: &Console, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    let spec = &console.config().cookies().form;
    match spec.read(headers).filter(|value| value.len() == 43) {
        Some(secret) => (secret.to_owned(), None),
        None => {
            let secret = secret::new_secret();
            let cookie = spec.set(&secret, None);
            (secret, Some(cookie))
        }
    }
}

/// The `next` of a `/login?next=…` URL, when it is a page of this site.
fn next_of(uri: &Uri) -> Option<String> {
    let query = uri.query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "next")
        .and_then(|(_, next)| safe_next(&next).map(str::to_owned))
}

/// Starts a session for `email`: stores the digest of a new token and
/// returns the cookie that carries the token.
async fn start_session(console: &Console, email: &UserEmail, now: OffsetDateTime) -> Result<HeaderValue, ConsoleError> {
    let issued = secret::issue();
    let session = NewSession { digest: issued.digest, email: email.clone(), created_at: now };
    console.accounts().insert_session(&session).await?;
    Ok(console.config().cookies().session.set(&issued.secret, None))
}

async fn show_sign_in<S: ConsoleService>(
    State(service): State<S>,
    uri: Uri,
    headers: HeaderMap,
    flashes: Flashes,
) -> Response {
    let console = service.console();
    let next = next_of(&uri);
    let outcome = async {
        if let SessionState::Open(_) = find_session(&service, &headers).await? {
            return Ok(see_other(after_sign_in(next.as_deref())));
        }
        let (secret, cookie) = form_secret(console, &headers);
        let values = SignInValues { email: "", next: next.as_deref() };
        let body = pages::sign_in(
            console.config().product_name(),
            &CsrfToken::derive(&secret),
            &values,
            &FormErrors::new(),
            flashes.messages(),
        );
        Ok(with_cookies((flashes, page_response(StatusCode::OK, body)).into_response(), cookie))
    }
    .await;
    respond(console, outcome)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SignInForm {
    email: String,
    password: String,
}

async fn sign_in<S: ConsoleService>(
    State(service): State<S>,
    uri: Uri,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<SignInForm>,
) -> Response {
    let console = service.console();
    let outcome = sign_in_with(&service, next_of(&uri), &headers, form).await;
    respond(console, outcome)
}

async fn sign_in_with<S: ConsoleService>(
    service: &S,
    next: Option<String>,
    headers: &HeaderMap,
    form: SignInForm,
) -> Result<Response, ConsoleError> {
    let console = service.console();
    let config = console.config();
    let accounts = console.accounts();
    let (secret, form_cookie) = form_secret(console, headers);
    let csrf = CsrfToken::derive(&secret);
    let again = |errors: &FormErrors, status: StatusCode| {
        let values = SignInValues { email: &form.email, next: next.as_deref() };
        let body = pages::sign_in(config.product_name(), &csrf, &values, errors, &[]);
        with_cookies(page_response(status, body), form_cookie.clone())
    };

    let mut errors = FormErrors::new();
    let email = match UserEmail::parse(&form.email) {
        Ok(email) => Some(email),
        Err(InvalidEmail::Empty) => {
            errors.add("email", "Enter your email address");
            None
        }
        Err(_) => {
            errors.add("email", "Enter an email address like name@example.com");
            None
        }
    };
    if form.password.is_empty() {
        errors.add("password", "Enter your password");
    }
    let Some(email) = email.filter(|_| errors.is_empty()) else {
        return Ok(again(&errors, StatusCode::UNPROCESSABLE_ENTITY));
    };

    let now = console.now();
    let failures = accounts.failed_sign_ins_since(&email, config.lockout.since(now)).await?;
    if let Some(until) = config.lockout.locked_until(&failures, now) {
        service.audit(ConsoleEvent::SignInRefused { email: &email, reason: SignInRefusal::LockedOut }).await?;
        let seconds = (until - now).whole_seconds().max(1);
        let minutes = (seconds + 59) / 60;
        let unit = if minutes == 1 { "minute" } else { "minutes" };
        errors.form(format!("Too many failed sign-ins. Try again in {minutes} {unit}."), &[]);
        let mut response = again(&errors, StatusCode::TOO_MANY_REQUESTS);
        response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
        return Ok(response);
    }

    let login = accounts.login(&email).await?;
    let stored = login.as_ref().and_then(|login| login.password_hash.clone());
    let password = form.password.clone();
    let verified = tokio::task::spawn_blocking(move || verify_password_or_dummy(&password, stored.as_deref())).await?;
    let refusal = match &login {
        None => Some(SignInRefusal::UnknownEmail),
        Some(login) if login.password_hash.is_none() => Some(SignInRefusal::NoPassword),
        Some(_) if !verified => Some(SignInRefusal::WrongPassword),
        Some(_) => None,
    };
    if let Some(reason) = refusal {
        accounts.record_failed_sign_in(&email, now).await?;
        accounts.forget_failed_sign_ins_before(config.lockout.since(now)).await?;
        service.audit(ConsoleEvent::SignInRefused { email: &email, reason }).await?;
        errors.form(INCORRECT_CREDENTIALS, &["email", "password"]);
        return Ok(again(&errors, StatusCode::UNPROCESSABLE_ENTITY));
    }

    if service.principal(&email).await?.is_none() {
        service.audit(ConsoleEvent::SignInRefused { email: &email, reason: SignInRefusal::NoAccess }).await?;
        errors.form(
            format!(
                "This account has no access to {} now. Ask an administrator to invite you again.",
                config.product_name()
            ),
            &[],
        );
        return Ok(again(&errors, StatusCode::FORBIDDEN));
    }

    accounts.clear_failed_sign_ins(&email).await?;
    accounts.delete_sessions_idle_since(now - config.idle.idle_timeout).await?;
    if let Some(previous) = config.cookies().session.read(headers) {
        accounts.delete_session(&secret::digest(previous)).await?;
    }
    let session_cookie = start_session(console, &email, now).await?;
    service.audit(ConsoleEvent::SignedIn { email: &email }).await?;
    Ok(with_cookies(see_other(after_sign_in(next.as_deref())), [session_cookie]))
}

/// A link's token has the shape of a secret: anything else is not looked up.
fn link_digest(token: &str) -> Option<String> {
    let plausible =
        token.len() == 43 && token.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    plausible.then(|| secret::digest(token))
}

async fn show_set_password<S: ConsoleService>(
    State(service): State<S>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let console = service.console();
    let outcome = async {
        let product = console.config().product_name();
        let link = match link_digest(&token) {
            Some(digest) => console.accounts().link(&digest).await?,
            None => None,
        };
        let Some(link) = link else {
            return Ok(pages::link_unusable(product, None));
        };
        let state = link.state(console.now());
        if state != LinkState::Usable {
            return Ok(pages::link_unusable(product, Some(state)));
        }
        let (secret, cookie) = form_secret(console, &headers);
        let action = format!("/invite/{token}");
        let body = pages::set_password(
            product,
            &CsrfToken::derive(&secret),
            &action,
            link.email.as_str(),
            link.purpose,
            &FormErrors::new(),
        );
        Ok(with_cookies(page_response(StatusCode::OK, body), cookie))
    }
    .await;
    respond(console, outcome)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SetPasswordForm {
    password: String,
    confirm_password: String,
}

async fn set_password<S: ConsoleService>(
    State(service): State<S>,
    Path(token): Path<String>,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<SetPasswordForm>,
) -> Response {
    let console = service.console();
    let outcome = set_password_with(&service, &token, &headers, form).await;
    respond(console, outcome)
}

async fn set_password_with<S: ConsoleService>(
    service: &S,
    token: &str,
    headers: &HeaderMap,
    form: SetPasswordForm,
) -> Result<Response, ConsoleError> {
    let console = service.console();
    let config = console.config();
    let product = config.product_name();
    let accounts = console.accounts();
    let Some(digest) = link_digest(token) else {
        return Ok(pages::link_unusable(product, None));
    };
    let Some(link) = accounts.link(&digest).await? else {
        return Ok(pages::link_unusable(product, None));
    };
    let state = link.state(console.now());
    if state != LinkState::Usable {
        return Ok(pages::link_unusable(product, Some(state)));
    }

    if let Err(refused) = check_new_password(&form.password, &form.confirm_password) {
        let mut errors = FormErrors::new();
        errors.add(refused.field(), refused.message());
        let (secret, cookie) = form_secret(console, headers);
        let action = format!("/invite/{token}");
        let csrf = CsrfToken::derive(&secret);
        let body = pages::set_password(product, &csrf, &action, link.email.as_str(), link.purpose, &errors);
        return Ok(with_cookies(page_response(StatusCode::UNPROCESSABLE_ENTITY, body), cookie));
    }
    if service.principal(&link.email).await?.is_none() {
        let mut errors = FormErrors::new();
        errors.form(
            format!("This account has no access to {product} now. Ask an administrator to invite you again."),
            &[],
        );
        let (secret, cookie) = form_secret(console, headers);
        let action = format!("/invite/{token}");
        let csrf = CsrfToken::derive(&secret);
        let body = pages::set_password(product, &csrf, &action, link.email.as_str(), link.purpose, &errors);
        return Ok(with_cookies(page_response(StatusCode::FORBIDDEN, body), cookie));
    }

    let password = form.password;
    let hash = tokio::task::spawn_blocking(move || hash_password(&password)).await??;
    let now = console.now();
    let link = match accounts.redeem_link(&digest, &hash, now).await? {
        Redemption::Redeemed(link) => link,
        Redemption::Unknown => return Ok(pages::link_unusable(product, None)),
        Redemption::Used => return Ok(pages::link_unusable(product, Some(LinkState::Used))),
        Redemption::Expired => return Ok(pages::link_unusable(product, Some(LinkState::Expired))),
    };
    service.audit(ConsoleEvent::PasswordSet { email: &link.email, purpose: link.purpose }).await?;
    accounts.clear_failed_sign_ins(&link.email).await?;
    let session_cookie = start_session(console, &link.email, now).await?;
    service.audit(ConsoleEvent::SignedIn { email: &link.email }).await?;
    let welcome = Flash::success("Your password is set. You are signed in.");
    Ok(with_cookies(see_other("/"), [session_cookie, welcome.cookie(&config.cookies().flash)]))
}

/// A form with no fields of its own (its CSRF token aside).
#[derive(Debug, Deserialize)]
struct NoFields {}

async fn sign_out<S: ConsoleService>(
    State(service): State<S>,
    headers: HeaderMap,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> Response {
    let console = service.console();
    let outcome = async {
        let cookies = console.config().cookies();
        if let Some(token) = cookies.session.read(&headers) {
            let digest = secret::digest(token);
            if let Some(session) = console.accounts().session(&digest).await? {
                console.accounts().delete_session(&digest).await?;
                service.audit(ConsoleEvent::SignedOut { email: &session.email }).await?;
            }
        }
        let farewell = Flash::info("You have signed out.");
        Ok(with_cookies(see_other("/login"), [cookies.session.clear(), farewell.cookie(&cookies.flash)]))
    }
    .await;
    respond(console, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_read_from_the_query_only_when_safe() {
        assert_eq!(
            next_of(&"/login?next=%2Frequests%3Fstatus%3Dopen".parse().unwrap()).as_deref(),
            Some("/requests?status=open")
        );
        assert_eq!(next_of(&"/login?next=%2F%2Fevil.example".parse().unwrap()), None);
        assert_eq!(next_of(&"/login?next=https://evil.example".parse().unwrap()), None);
        assert_eq!(next_of(&"/login".parse().unwrap()), None);
    }

    #[test]
    fn only_tokens_shaped_like_secrets_are_looked_up() {
        let token = secret::new_secret();
        assert_eq!(link_digest(&token), Some(secret::digest(&token)));
        assert_eq!(link_digest("short"), None);
        assert_eq!(link_digest(&format!("{}=", &token[..42])), None);
    }
}
