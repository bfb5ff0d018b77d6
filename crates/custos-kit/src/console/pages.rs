//! The pages the kit itself draws: sign in, set a password, a link that can
//! no longer be followed, and the error pages every console shares
//! (forbidden, not found, a refused form, a server error).

use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};

use super::accounts::{LinkPurpose, LinkState};
use super::csrf::CsrfToken;
use super::flash::Flash;
use super::form::{error_summary, post_form, submit_row, FormErrors, Input};
use super::layout::{page, page_response, Shell};
use crate::password::MIN_PASSWORD_CHARS;

/// The sign-in form as typed (the password is never written back).
#[derive(Debug, Clone, Default)]
pub struct SignInValues<'a> {
    pub email: &'a str,
    pub next: Option<&'a str>,
}

/// `/login`: **Email**, **Password**, **Sign in**.
pub fn sign_in(
    product: &str,
    csrf: &CsrfToken,
    values: &SignInValues,
    errors: &FormErrors,
    flashes: &[Flash],
) -> Markup {
    let shell = Shell::bare(product).with_flashes(flashes);
    let action = match values.next {
        Some(next) => {
            format!("/login?next={}", url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>())
        }
        None => "/login".to_owned(),
    };
    page(
        &shell,
        "Sign in",
        post_form(
            &action,
            csrf,
            html! {
                (error_summary(errors))
                (Input::email("email", "Email").value(values.email).autocomplete("username").required().errors(errors))
                (Input::password("password", "Password").autocomplete("current-password").required().errors(errors))
                (submit_row("Sign in"))
            },
        ),
    )
}

/// `/invite/{token}` (`action`): **Password**, **Confirm password**, **Set password**.
pub fn set_password(
    product: &str,
    csrf: &CsrfToken,
    action: &str,
    email: &str,
    purpose: LinkPurpose,
    errors: &FormErrors,
) -> Markup {
    let (title, lead) = match purpose {
        LinkPurpose::Invite => {
            ("Set your password", format!("Welcome to {product}. Choose a password to finish setting up your account."))
        }
        LinkPurpose::PasswordReset => {
            ("Reset your password", "Choose a new password. You will be signed out everywhere else.".to_owned())
        }
    };
    let hint = format!("At least {MIN_PASSWORD_CHARS} characters. A few unrelated words make a good one.");
    page(
        &Shell::bare(product),
        title,
        html! {
            p { (lead) }
            (post_form(action, csrf, html! {
                (error_summary(errors))
                (Input::email("email", "Email").value(email).autocomplete("username").readonly())
                (Input::password("password", "Password").autocomplete("new-password").hint(&hint).required().errors(errors))
                (Input::password("confirm_password", "Confirm password").autocomplete("new-password").required().errors(errors))
                (submit_row("Set password"))
            }))
        },
    )
}

/// A one-time link that was never issued (404), was used or has expired (410).
pub fn link_unusable(product: &str, state: Option<LinkState>) -> Response {
    let (status, title, explanation) = match state {
        Some(LinkState::Used) => (
            StatusCode::GONE,
            "This link has already been used",
            "Each link sets a password once. If you have set yours, sign in with it.",
        ),
        Some(LinkState::Expired) => (
            StatusCode::GONE,
            "This link has expired",
            "Links to set a password work for a limited time. Ask an administrator for a new one.",
        ),
        Some(LinkState::Usable) | None => (
            StatusCode::NOT_FOUND,
            "This link is not valid",
            "Check that you copied the whole link from the message you received, or ask an administrator for a new one.",
        ),
    };
    page_response(
        status,
        page(
            &Shell::bare(product),
            title,
            html! {
                p { (explanation) }
                p { a href="/login" { "Go to sign in" } }
            },
        ),
    )
}

/// 403: the signed-in person lacks `permission` for this page.
pub fn forbidden(shell: &Shell, permission: &str) -> Response {
    page_response(
        StatusCode::FORBIDDEN,
        page(
            shell,
            "You do not have access to this page",
            html! {
                p { "This page needs the permission " code class="permission" { (permission) } ", which your role does not grant." }
                p { "Ask an administrator to change your role if you need it." }
            },
        ),
    )
}

/// 404 in the console.
pub fn not_found(shell: &Shell) -> Response {
    page_response(
        StatusCode::NOT_FOUND,
        page(
            shell,
            "Page not found",
            html! {
                p { "There is nothing at this address. It may have been removed, or the link may be mistyped." }
                p { a href="/" { "Go to the home page" } }
            },
        ),
    )
}

/// 500: something failed on the server; the cause is in its log, not here.
pub fn server_error(shell: &Shell) -> Response {
    page_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        page(
            shell,
            "Something went wrong",
            html! {
                p { "The server could not complete this request. Nothing you did caused it; please try again in a moment." }
                p { "If it keeps happening, tell your administrator the time it happened: the details are in the server's log." }
            },
        ),
    )
}

/// Why a form was refused before it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormRefusal {
    /// The CSRF token is missing or wrong (403).
    Expired,
    /// The browser says the form came from another site (403).
    ForeignOrigin { found: String, expected: String },
    /// The body is not a form, or not the one expected (400).
    Malformed,
    /// The body is larger than any console form (413).
    TooLarge,
}

/// The page that says a form was refused.
pub fn form_refused(shell: &Shell, refusal: &FormRefusal) -> Response {
    let (status, title, body) = match refusal {
        FormRefusal::Expired => (
            StatusCode::FORBIDDEN,
            "This form has expired",
            html! {
                p { "The form was sent without a valid security token: it may have been open too long, or you signed out in another tab." }
                p { "Go back, reload the page, and send the form again. Cookies must be allowed for this site." }
            },
        ),
        FormRefusal::ForeignOrigin { found, expected } => (
            StatusCode::FORBIDDEN,
            "This form came from another site",
            html! {
                p { "Forms are accepted from " code { (expected) } " only; this one came from " code { (found) } "." }
                p { "If you reached this site through another address, use " code { (expected) } ", or ask the administrator to set the service's public URL to the address you use." }
            },
        ),
        FormRefusal::Malformed => (
            StatusCode::BAD_REQUEST,
            "This form could not be read",
            html! { p { "The form arrived incomplete or in an unexpected shape. Go back, reload the page, and try again." } },
        ),
        FormRefusal::TooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "This form is too large",
            html! { p { "The form holds more than the server accepts. Shorten what you entered and try again." } },
        ),
    };
    page_response(status, page(shell, title, html! { (body) p { a href="/" { "Go to the home page" } } }))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn forbidden_names_the_missing_permission() {
        let response = forbidden(&Shell::bare("Custos"), "privacy:manage");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let body = body_of(response).await;
        assert!(body.contains(r#"<code class="permission">privacy:manage</code>"#), "{body}");
    }

    #[tokio::test]
    async fn used_and_expired_links_are_gone_and_unknown_ones_not_found() {
        assert_eq!(link_unusable("Custos", Some(LinkState::Used)).status(), StatusCode::GONE);
        assert_eq!(link_unusable("Custos", Some(LinkState::Expired)).status(), StatusCode::GONE);
        assert_eq!(link_unusable("Custos", None).status(), StatusCode::NOT_FOUND);
        assert!(body_of(link_unusable("Custos", Some(LinkState::Used))).await.contains("already been used"));
        assert!(body_of(link_unusable("Custos", Some(LinkState::Expired))).await.contains("has expired"));
    }

    #[test]
    fn the_sign_in_page_keeps_next_in_its_action() {
        let csrf = CsrfToken::derive("form");
        let values = SignInValues { email: "ann@example.com", next: Some("/requests?status=open") };
        let text = sign_in("Custos", &csrf, &values, &FormErrors::new(), &[]).into_string();
        assert!(text.contains(r#"action="/login?next=%2Frequests%3Fstatus%3Dopen""#), "{text}");
        assert!(text.contains(r#"value="ann@example.com""#));
        assert!(text.contains(">Sign in</button>"));
    }

    #[test]
    fn the_set_password_page_has_both_fields_and_the_email() {
        let csrf = CsrfToken::derive("form");
        let text =
            set_password("Custos", &csrf, "/invite/t", "ann@example.com", LinkPurpose::Invite, &FormErrors::new())
                .into_string();
        assert!(text.contains(r#"<label for="field-password">Password</label>"#));
        assert!(text.contains(r#"<label for="field-confirm_password">Confirm password</label>"#));
        assert!(text.contains(">Set password</button>"));
        assert!(text.contains(r#"action="/invite/t""#));
        assert!(text.contains(r#"value="ann@example.com" autocomplete="username" readonly"#), "{text}");
        let reset = set_password(
            "Custos",
            &csrf,
            "/invite/t",
            "ann@example.com",
            LinkPurpose::PasswordReset,
            &FormErrors::new(),
        );
        assert!(reset.into_string().contains("Reset your password"));
    }
}
