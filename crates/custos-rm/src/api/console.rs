//! The console's side of the service: [`AppState`] as the kit's
//! `ConsoleService` (a person is a user of the store, with a role, read on
//! every request; sign-ins go to the audit log), and the home page.

use async_trait::async_trait;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use custos_core::access::UserEmail;
use custos_kit::console::layout::{page, page_response, Shell};
use custos_kit::console::{Console, ConsoleEvent, ConsoleService, Flashes, ServiceError, SignedIn};
use maud::html;

use super::AppState;
use crate::domain::role::Actor;
use crate::store::User;

#[async_trait]
impl ConsoleService for AppState {
    type Principal = User;

    fn console(&self) -> &Console {
        &self.console
    }

    async fn principal(&self, email: &UserEmail) -> Result<Option<User>, ServiceError> {
        Ok(self.manager.user(email.as_str()).await?)
    }

    async fn audit(&self, event: ConsoleEvent<'_>) -> Result<(), ServiceError> {
        let (email, what) = match event {
            ConsoleEvent::SignedIn { email } => (email, "signed in".to_owned()),
            ConsoleEvent::SignInRefused { email, reason } => (email, format!("sign-in refused ({reason:?})")),
            ConsoleEvent::SignedOut { email } => (email, "signed out".to_owned()),
            ConsoleEvent::PasswordSet { email, purpose } => (email, format!("set a password ({})", purpose.as_str())),
        };
        Ok(self.manager.record_activity(&Actor::User(email.to_string()), &what).await?)
    }
}

/// `/`: where a signed-in person lands.
pub(super) async fn home(State(state): State<AppState>, signed_in: SignedIn<AppState>, flashes: Flashes) -> Response {
    let product = state.console.config().product_name();
    let shell = Shell::signed_in(product, signed_in.email.as_str(), &signed_in.csrf).with_flashes(flashes.messages());
    let role = signed_in.principal.role;
    let body = page(
        &shell,
        "Home",
        html! {
            p { "You are signed in as " strong { (signed_in.email.as_str()) } ", " (role.label()) "." }
            p { "Your role grants: " @for (i, permission) in role.permissions().iter().enumerate() {
                @if i > 0 { ", " } code { (permission.as_str()) }
            } "." }
        },
    );
    page_response(StatusCode::OK, body)
}
