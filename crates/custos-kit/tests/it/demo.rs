//! A tiny service built on the kit, as the platform and the Request Manager
//! will be: users with a role, an audit trail, and a few pages that use
//! every piece of the layout (a table with deadline badges and bulk
//! actions, a form that can be refused, a secret shown once, a page for
//! admins only). The HTTP and browser tests drive it on a real port.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use custos_core::access::UserEmail;
use custos_kit::clock::{Clock, ManualClock};
use custos_kit::console::components::{
    badge, danger_button, deadline_badge, details, row_checkbox, secret_box, select_all, submit_button, table,
    ButtonStyle, Tone,
};
use custos_kit::console::flash::redirect_with_flash;
use custos_kit::console::form::{actions, error_summary, post_form, Checkbox, FormErrors, Input, Select};
use custos_kit::console::layout::{page, page_response, NavLink, Shell};
use custos_kit::console::pages::{forbidden, not_found};
use custos_kit::console::{
    router, Console, ConsoleAccounts, ConsoleConfig, ConsoleEvent, ConsoleService, CsrfForm, Flash, Flashes,
    IssuedLink, ServiceError, SignedIn,
};
use custos_kit::secret;
use maud::html;
use serde::Deserialize;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use tokio::net::TcpListener;

use crate::memory_accounts::MemoryAccounts;

/// When every demo's clock starts.
pub(crate) const START: OffsetDateTime = datetime!(2025-06-02 09:00 UTC);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Viewer,
    Admin,
}

/// Who a signed-in person is to the demo.
#[derive(Debug, Clone)]
pub(crate) struct DemoUser {
    pub(crate) role: Role,
}

pub(crate) struct DemoState {
    pub(crate) console: Console,
    pub(crate) clock: Arc<ManualClock>,
    users: Mutex<HashMap<UserEmail, Role>>,
    audit: Mutex<Vec<String>>,
}

/// The demo's axum state.
#[derive(Clone)]
pub(crate) struct Demo(pub Arc<DemoState>);

impl Demo {
    pub(crate) fn new(public_url: &str, cookie_name: &str) -> Demo {
        let config = ConsoleConfig::new("Kit Demo", public_url, cookie_name).expect("valid demo settings");
        let clock = Arc::new(ManualClock::new(START));
        let accounts: Arc<dyn ConsoleAccounts> = Arc::new(MemoryAccounts::default());
        let console = Console::new(config, accounts, clock.clone());
        Demo(Arc::new(DemoState { console, clock, users: Mutex::new(HashMap::new()), audit: Mutex::new(Vec::new()) }))
    }

    /// Adds a user with `role` and returns their invite link.
    pub(crate) async fn invite(&self, email: &str, role: Role) -> IssuedLink {
        let email = UserEmail::parse(email).unwrap();
        self.0.users.lock().unwrap().insert(email.clone(), role);
        self.0.console.invite(&email).await.unwrap()
    }

    pub(crate) async fn password_reset(&self, email: &str) -> IssuedLink {
        self.0.console.password_reset(&UserEmail::parse(email).unwrap()).await.unwrap()
    }

    pub(crate) fn set_role(&self, email: &str, role: Role) {
        self.0.users.lock().unwrap().insert(UserEmail::parse(email).unwrap(), role);
    }

    /// Removes the user, as a service would: its roles go; the console
    /// login stays (the person may use other organizations).
    pub(crate) fn remove_user(&self, email: &str) {
        self.0.users.lock().unwrap().remove(&UserEmail::parse(email).unwrap());
    }

    pub(crate) fn advance(&self, by: Duration) {
        self.0.clock.advance(by);
    }

    pub(crate) fn audit(&self) -> Vec<String> {
        self.0.audit.lock().unwrap().clone()
    }
}

#[async_trait]
impl ConsoleService for Demo {
    type Principal = DemoUser;

    fn console(&self) -> &Console {
        &self.0.console
    }

    async fn principal(&self, email: &UserEmail) -> Result<Option<DemoUser>, ServiceError> {
        Ok(self.0.users.lock().unwrap().get(email).map(|role| DemoUser { role: *role }))
    }

    async fn audit(&self, event: ConsoleEvent<'_>) -> Result<(), ServiceError> {
        let entry = match event {
            ConsoleEvent::SignedIn { email } => format!("signed in {email}"),
            ConsoleEvent::SignInRefused { email, reason } => format!("refused {email} {reason:?}"),
            ConsoleEvent::SignedOut { email } => format!("signed out {email}"),
            ConsoleEvent::PasswordSet { email, purpose } => format!("password set {email} {}", purpose.as_str()),
        };
        self.0.audit.lock().unwrap().push(entry);
        Ok(())
    }
}

/// The demo on `127.0.0.1:<free port>`, its public URL being that address.
pub(crate) async fn start(cookie_name: &str) -> (String, Demo) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let demo = Demo::new(&base, cookie_name);
    let app = Router::new()
        .route("/", get(requests))
        .route("/requests/bulk", post(bulk))
        .route("/keys", get(keys).post(issue_key))
        .route("/settings", get(settings))
        .merge(router::<Demo>())
        .fallback(missing)
        .with_state(demo.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, demo)
}

const NAV: &[NavLink] = &[
    NavLink { label: "Requests", href: "/" },
    NavLink { label: "API keys", href: "/keys" },
    NavLink { label: "Settings", href: "/settings" },
];

const WORKSPACES: &[(&str, &str)] = &[("1", "Production"), ("2", "Staging")];

/// The shell of a signed-in demo page, `current` being its navigation entry.
fn shell<'a>(signed_in: &'a SignedIn<Demo>, current: &'a str, flashes: &'a [Flash]) -> Shell<'a> {
    let workspace = html! {
        form method="get" action="/" class="workspace" {
            label for="workspace" { "Workspace" }
            select id="workspace" name="workspace" {
                @for (value, label) in WORKSPACES { option value=(value) { (label) } }
            }
            (submit_button("Switch", ButtonStyle::Secondary))
        }
    };
    Shell::signed_in("Kit Demo", signed_in.email.as_str(), &signed_in.csrf)
        .with_nav(NAV, current)
        .with_header_control(workspace)
        .with_flashes(flashes)
}

async fn requests(State(demo): State<Demo>, signed_in: SignedIn<Demo>, flashes: Flashes) -> Response {
    let now = demo.0.clock.now();
    let month = Duration::days(30);
    let rows: Vec<Vec<maud::Markup>> = [
        ("103", "Opt-out", "cy.subject@example.net", now - Duration::days(2)),
        ("102", "Deletion", "bo.subject@example.net", now + Duration::days(4)),
        ("101", "Access", "ann.subject@example.net", now + Duration::days(21)),
    ]
    .into_iter()
    .map(|(id, kind, subject, due)| {
        vec![
            row_checkbox("ids", id, &format!("Select request {id}")),
            html! { a href=(format!("/requests/{id}")) { "#" (id) } },
            html! { (kind) },
            html! { (subject) },
            deadline_badge(now, due, month),
            badge("In progress", Tone::Info),
        ]
    })
    .collect();
    let body = html! {
        p { "Data subject requests of this workspace, most urgent first." }
        (post_form("/requests/bulk", &signed_in.csrf, html! {
            (select_all("ids", "Select all requests"))
            (table("Open requests", &["Select", "Request", "Type", "Subject", "Deadline", "Status"], &rows, "No open requests."))
            (actions(html! {
                (submit_button("Approve selected", ButtonStyle::Primary))
                (danger_button("Deny selected", "Deny the selected requests?"))
            }))
        }))
    };
    let markup = page(&shell(&signed_in, "/", flashes.messages()), "Requests", body);
    (flashes, page_response(StatusCode::OK, markup)).into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct BulkForm {
    ids: Vec<String>,
}

async fn bulk(State(demo): State<Demo>, _signed_in: SignedIn<Demo>, CsrfForm(form): CsrfForm<BulkForm>) -> Response {
    let message = match form.ids.len() {
        0 => return redirect_with_flash(demo.console(), "/", Flash::error("Select at least one request")),
        1 => "1 request approved".to_owned(),
        count => format!("{count} requests approved"),
    };
    redirect_with_flash(demo.console(), "/", Flash::success(message))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct KeyForm {
    name: String,
    environment: String,
    can_write: Option<String>,
}

const ENVIRONMENTS: &[(&str, &str)] = &[("development", "Development"), ("production", "Production")];

fn key_page(signed_in: &SignedIn<Demo>, form: &KeyForm, errors: &FormErrors, issued: Option<&str>) -> maud::Markup {
    let body = html! {
        @if let Some(secret) = issued {
            (secret_box("new-key", "Secret of the new key", secret))
        }
        p { "Keys let a server send events to this workspace." }
        (post_form("/keys", &signed_in.csrf, html! {
            (error_summary(errors))
            (Input::text("name", "Key name").value(&form.name).hint("Say where the key is used, such as “checkout server”.").required().errors(errors))
            (Select::new("environment", "Environment", ENVIRONMENTS).selected(&form.environment).errors(errors))
            (Checkbox::new("can_write", "Can send events").checked(form.can_write.is_some()))
            (actions(submit_button("Issue key", ButtonStyle::Primary)))
        }))
    };
    page(&shell(signed_in, "/keys", &[]), "API keys", body)
}

async fn keys(signed_in: SignedIn<Demo>) -> Response {
    page_response(StatusCode::OK, key_page(&signed_in, &KeyForm::default(), &FormErrors::new(), None))
}

async fn issue_key(signed_in: SignedIn<Demo>, CsrfForm(form): CsrfForm<KeyForm>) -> Response {
    let mut errors = FormErrors::new();
    if form.name.trim().is_empty() {
        errors.add("name", "Enter a name for the key");
    }
    if !ENVIRONMENTS.iter().any(|(value, _)| *value == form.environment) {
        errors.add("environment", "Choose an environment");
    }
    if !errors.is_empty() {
        return page_response(StatusCode::UNPROCESSABLE_ENTITY, key_page(&signed_in, &form, &errors, None));
    }
    let issued = secret::new_secret();
    page_response(StatusCode::OK, key_page(&signed_in, &KeyForm::default(), &FormErrors::new(), Some(&issued)))
}

async fn settings(signed_in: SignedIn<Demo>) -> Response {
    let shell = shell(&signed_in, "/settings", &[]);
    if signed_in.principal.role != Role::Admin {
        return forbidden(&shell, "settings:manage");
    }
    let body = details(&[
        ("Regulation", html! { "GDPR and CCPA" }),
        ("Waiting period", html! { "7 days" }),
        ("Signed in as", html! { (signed_in.email.as_str()) }),
    ]);
    page_response(StatusCode::OK, page(&shell, "Settings", body))
}

async fn missing(signed_in: Option<SignedIn<Demo>>) -> Response {
    match &signed_in {
        Some(signed_in) => not_found(&shell(signed_in, "", &[])),
        None => not_found(&Shell::bare("Kit Demo")),
    }
}
