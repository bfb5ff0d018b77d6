//! The page shell every console page is drawn in, and the response that
//! carries a page.
//!
//! A signed-in page has a skip link, a header (product name, an optional
//! control such as a Workspace select, the signed-in email and **Sign
//! out**), a `nav` landmark (a sidebar on wide screens, above the content on
//! narrow ones) with the current entry marked `aria-current="page"`, and a
//! `main` that starts with the flash messages in a live region and the
//! page's `h1`. Pages before sign-in (sign in, set password, errors) use
//! the bare shell: the product name and one narrow column.

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::assets;
use super::csrf::CsrfToken;
use super::flash::{Flash, FlashKind};
use super::form;

/// One entry of the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NavLink<'a> {
    pub label: &'a str,
    pub href: &'a str,
}

/// Who is signed in, for the header.
#[derive(Debug, Clone, Copy)]
pub struct Account<'a> {
    pub email: &'a str,
    /// For the **Sign out** form.
    pub csrf: &'a CsrfToken,
}

/// Everything around a page's own content.
#[derive(Debug, Clone)]
pub struct Shell<'a> {
    /// The product's name, in the header and every title.
    pub product: &'a str,
    /// A control at the header's end, before the account (a Workspace select).
    pub header_control: Option<Markup>,
    pub account: Option<Account<'a>>,
    pub nav: &'a [NavLink<'a>],
    /// The `href` of the navigation entry this page belongs to.
    pub current: Option<&'a str>,
    pub flashes: &'a [Flash],
}

impl<'a> Shell<'a> {
    /// The shell of pages shown to anyone: no navigation, no account.
    pub fn bare(product: &'a str) -> Shell<'a> {
        Shell { product, header_control: None, account: None, nav: &[], current: None, flashes: &[] }
    }

    /// The shell of a signed-in page.
    pub fn signed_in(product: &'a str, email: &'a str, csrf: &'a CsrfToken) -> Shell<'a> {
        Shell { account: Some(Account { email, csrf }), ..Shell::bare(product) }
    }

    /// With `nav`, `current` being the `href` of this page's entry.
    pub fn with_nav(self, nav: &'a [NavLink<'a>], current: &'a str) -> Shell<'a> {
        Shell { nav, current: Some(current), ..self }
    }

    pub fn with_header_control(self, control: Markup) -> Shell<'a> {
        Shell { header_control: Some(control), ..self }
    }

    pub fn with_flashes(self, flashes: &'a [Flash]) -> Shell<'a> {
        Shell { flashes, ..self }
    }

    fn is_bare(&self) -> bool {
        self.account.is_none() && self.nav.is_empty()
    }
}

/// A whole page: `title` is its `h1` and the start of its `<title>`.
pub fn page(shell: &Shell, title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (shell.product) }
                link rel="icon" href="data:,";
                link rel="stylesheet" href=(assets::stylesheet_path());
                script src=(assets::script_path()) defer {}
            }
            body class=(if shell.is_bare() { "bare" } else { "full" }) {
                a class="skip-link" href="#main" { "Skip to content" }
                header class="topbar" {
                    a class="brand" href="/" { (shell.product) }
                    @if let Some(control) = &shell.header_control {
                        div class="topbar-control" { (control) }
                    }
                    @if let Some(account) = shell.account {
                        div class="account" {
                            span class="account-email" { (account.email) }
                            form method="post" action="/logout" {
                                (form::csrf_field(account.csrf))
                                button type="submit" class="button button-secondary button-small" { "Sign out" }
                            }
                        }
                    }
                }
                div class="frame" {
                    @if !shell.nav.is_empty() {
                        nav class="sidebar" aria-label="Main" {
                            ul {
                                @for link in shell.nav {
                                    li {
                                        a href=(link.href) aria-current=[(shell.current == Some(link.href)).then_some("page")] {
                                            (link.label)
                                        }
                                    }
                                }
                            }
                        }
                    }
                    main id="main" tabindex="-1" {
                        (flash_messages(shell.flashes))
                        h1 { (title) }
                        (content)
                    }
                }
            }
        }
    }
}

/// The live regions that announce flash messages: news politely, errors
/// at once. Both exist on every page, empty or not.
fn flash_messages(flashes: &[Flash]) -> Markup {
    html! {
        div class="flashes" role="status" {
            @for flash in flashes.iter().filter(|flash| flash.kind != FlashKind::Error) {
                p class=(if flash.kind == FlashKind::Success { "flash flash-success" } else { "flash flash-info" }) { (flash.message) }
            }
        }
        div class="flashes" role="alert" {
            @for flash in flashes.iter().filter(|flash| flash.kind == FlashKind::Error) {
                p class="flash flash-error" { (flash.message) }
            }
        }
    }
}

/// What every console page may load: itself, nothing else.
const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A page as a response, with the headers every console page carries: no
/// caching (pages hold personal data, and must not come back after sign
/// out), a strict content security policy, and no referrer off the site.
pub fn page_response(status: StatusCode, page: Markup) -> Response {
    let mut response = (status, page.into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAV: &[NavLink] =
        &[NavLink { label: "Requests", href: "/requests" }, NavLink { label: "Users", href: "/users" }];

    #[test]
    fn a_signed_in_page_has_landmarks_the_current_entry_and_sign_out() {
        let csrf = CsrfToken::derive("secret");
        let flashes = [Flash::success("User invited")];
        let shell = Shell::signed_in("Custos", "ann@example.com", &csrf)
            .with_nav(NAV, "/users")
            .with_header_control(html! { span { "Workspace" } })
            .with_flashes(&flashes);
        let text = page(&shell, "Users", html! { p { "Body" } }).into_string();
        assert!(text.starts_with("<!DOCTYPE html><html lang=\"en\">"), "{text}");
        assert!(text.contains("<title>Users · Custos</title>"));
        assert!(text.contains(r##"<a class="skip-link" href="#main">Skip to content</a>"##));
        assert!(text.contains(r#"<nav class="sidebar" aria-label="Main">"#));
        assert!(text.contains(r#"<a href="/users" aria-current="page">Users</a>"#), "{text}");
        assert!(text.contains(r#"<a href="/requests">Requests</a>"#));
        assert!(text.contains("ann@example.com"));
        assert!(text.contains(r#"<form method="post" action="/logout">"#));
        assert!(text.contains(&format!(r#"value="{}""#, csrf.as_str())));
        assert!(text.contains(">Sign out</button>"));
        assert!(text.contains(r#"<main id="main" tabindex="-1">"#));
        assert!(text.contains(r#"<p class="flash flash-success">User invited</p>"#));
        assert!(text.contains("<span>Workspace</span>"));
        assert!(text.contains(assets::stylesheet_path()) && text.contains(assets::script_path()));
    }

    #[test]
    fn a_bare_page_has_no_navigation_or_account() {
        let text = page(&Shell::bare("Custos"), "Sign in", html! {}).into_string();
        assert!(text.contains(r#"<body class="bare">"#));
        assert!(!text.contains("<nav"));
        assert!(!text.contains("Sign out"));
        assert!(text.contains("<h1>Sign in</h1>"));
    }

    #[test]
    fn text_is_escaped() {
        let text = page(&Shell::bare("<Custos>"), "<script>", html! {}).into_string();
        assert!(!text.contains("<script>") && text.contains("&lt;script&gt;"));
    }

    #[test]
    fn pages_are_not_cached_and_load_nothing_from_elsewhere() {
        let response = page_response(StatusCode::OK, html! { p { "x" } });
        let headers = response.headers();
        assert_eq!(headers[CACHE_CONTROL], "no-store");
        assert_eq!(headers[CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(headers[CONTENT_SECURITY_POLICY].to_str().unwrap().contains("default-src 'none'"));
    }
}
