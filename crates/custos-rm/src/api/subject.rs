//! The pages a data subject reaches from their email, without signing in:
//! `/verify/{token}` (a page with a **Confirm** button: following the link
//! alone changes nothing, so mail scanners that fetch links do not confirm
//! for the subject) and `/download/{token}` (a page with a **Download**
//! button; the download is counted on the button's post). Without a valid
//! token they say nothing about any request.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use custos_kit::console::layout::{page, page_response, Shell};
use maud::{html, Markup};

use super::AppState;
use crate::error::RmError;
use crate::manager::{LinkCheck, SubjectPackage};
use crate::store::SubjectLinkPurpose;

fn plain(state: &AppState, status: StatusCode, title: &str, body: Markup) -> Response {
    page_response(status, page(&Shell::bare(state.console.config().product_name()), title, body))
}

/// The page for a link that cannot be followed (404 unknown, 410 used or expired).
fn unusable(state: &AppState, check: &LinkCheck) -> Response {
    let (status, title, text) = match check {
        LinkCheck::Expired => {
            (StatusCode::GONE, "This link has expired", "Links in our messages work for a limited time.")
        }
        LinkCheck::Used => (
            StatusCode::GONE,
            "This link can no longer be used",
            "It has been used as many times as it allows, or a newer link replaced it.",
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "This link is not valid",
            "Check that you copied the whole link from the message you received.",
        ),
    };
    plain(state, status, title, html! { p { (text) } p { "If you need help, reply to the message you received." } })
}

fn button_form(action: &str, label: &str) -> Markup {
    html! {
        form method="post" action=(action) {
            button type="submit" class="button button-primary" { (label) }
        }
    }
}

fn server_error(error: RmError) -> Response {
    error.into_response()
}

pub(super) async fn show_verify(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match state.manager.check_link(&token, SubjectLinkPurpose::Verify).await {
        Ok(LinkCheck::Usable { .. }) => plain(
            &state,
            StatusCode::OK,
            "Confirm your request",
            html! {
                p { "Press Confirm to tell us that you made this privacy request. Nothing is done until you confirm." }
                (button_form(&format!("/verify/{token}"), "Confirm"))
            },
        ),
        Ok(check) => unusable(&state, &check),
        Err(error) => server_error(error),
    }
}

pub(super) async fn confirm_verify(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match state.manager.confirm_verification(&token).await {
        Ok(LinkCheck::Usable { .. }) => {
            state.wake.notify_one();
            plain(
                &state,
                StatusCode::OK,
                "Thank you: your request is confirmed",
                html! { p { "We will answer it by email. You can close this page." } },
            )
        }
        Ok(check) => unusable(&state, &check),
        Err(error) => server_error(error),
    }
}

pub(super) async fn show_download(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match state.manager.check_link(&token, SubjectLinkPurpose::Download).await {
        Ok(LinkCheck::Usable { .. }) => plain(
            &state,
            StatusCode::OK,
            "Download your data",
            html! {
                p { "Your data is ready: one zip file. Keep it safe: it holds your personal data." }
                (button_form(&format!("/download/{token}"), "Download"))
            },
        ),
        Ok(check) => unusable(&state, &check),
        Err(error) => server_error(error),
    }
}

pub(super) async fn download(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match state.manager.subject_package(&token).await {
        Ok(SubjectPackage::Package { bytes, .. }) => (
            [
                (header::CONTENT_TYPE, "application/zip"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"your-data.zip\""),
                (header::CACHE_CONTROL, "no-store"),
            ],
            bytes,
        )
            .into_response(),
        Ok(SubjectPackage::Refused(check)) => unusable(&state, &check),
        Err(error) => server_error(error),
    }
}
