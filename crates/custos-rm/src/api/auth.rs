//! The one authorization path of `/rm/v1`: a handler takes [`Require<P>`],
//! and is reached only by a caller whose role grants `P`'s permission.
//!
//! A caller is an API token (`Authorization: Bearer …`, with the token's
//! role) or a console session (its cookie, the person's role read from the
//! store on this request). A session's state-changing call (anything but
//! GET and HEAD) must also carry the session's CSRF token, in the
//! `X-CSRF-Token` header or a form's `csrf_token` field ([`lift_form_token`]),
//! and come from the public origin when the browser names one.
//!
//! Missing or unknown credentials: 401. A permission the role does not
//! grant, or a missing CSRF token: 403 naming what is missing.

use std::marker::PhantomData;

use axum::body::{to_bytes, Body};
use axum::extract::{FromRequestParts, OptionalFromRequestParts, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use custos_kit::console::csrf::{check_origin, CSRF_FIELD};
use custos_kit::console::{ConsoleService, SignedIn};

use super::AppState;
use crate::domain::role::{Actor, Permission, Role};
use crate::error::RmError;

/// The header a console session's state-changing call carries its CSRF token in.
const CSRF_HEADER: &str = "x-csrf-token";

/// Who is calling, and with which role.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) actor: Actor,
    pub(crate) role: Role,
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = RmError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, RmError> {
        if let Some(header) = parts.headers.get(AUTHORIZATION) {
            let header = header.to_str().unwrap_or_default();
            let Some(token) = header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer ")) else {
                return Err(RmError::Unauthorized("Authorization: Bearer <api_token> is required".into()));
            };
            return match state.manager.authenticate_token(token).await? {
                Some(token) => Ok(Caller { actor: Actor::Token(token.name), role: token.role }),
                None => Err(RmError::Unauthorized("Authorization: the API token is not valid".into())),
            };
        }
        let signed_in = <SignedIn<AppState> as OptionalFromRequestParts<AppState>>::from_request_parts(parts, state)
            .await
            .map_err(|_| RmError::Internal("reading the console session failed".into()))?;
        let Some(signed_in) = signed_in else {
            return Err(RmError::Unauthorized(
                "Authorization: Bearer <api_token> is required, or a console session".into(),
            ));
        };
        if changes_state(&parts.method) {
            let presented = parts.headers.get(CSRF_HEADER).and_then(|value| value.to_str().ok()).unwrap_or_default();
            let origin = check_origin(&parts.headers, state.console().config().public_origin());
            if presented.is_empty() || !signed_in.csrf.matches(presented) || origin.is_err() {
                return Err(RmError::Forbidden {
                    permission: "csrf",
                    message: "a console session's call that changes something needs its CSRF token \
                              (X-CSRF-Token header or csrf_token form field) and the console's origin"
                        .into(),
                });
            }
        }
        Ok(Caller { actor: Actor::User(signed_in.email.to_string()), role: signed_in.principal.role })
    }
}

/// A permission a route requires, as a type.
pub(crate) trait Needed {
    const PERMISSION: Permission;
}

macro_rules! permissions {
    ($($name:ident => $permission:ident),* $(,)?) => {
        $(
            pub(crate) struct $name;
            impl Needed for $name {
                const PERMISSION: Permission = Permission::$permission;
            }
        )*
    };
}

permissions! {
    ReadRequests => RequestsRead,
    CreateRequests => RequestsCreate,
    ManageRequests => RequestsManage,
    ReadConnections => ConnectionsRead,
    ManageConnections => ConnectionsManage,
    ReadAudit => AuditRead,
    ManageUsers => UsersManage,
}

/// A caller whose role grants `P`'s permission.
pub(crate) struct Require<P: Needed> {
    pub(crate) caller: Caller,
    permission: PhantomData<P>,
}

impl<P: Needed> Require<P> {
    pub(crate) fn actor(&self) -> &Actor {
        &self.caller.actor
    }
}

impl<P: Needed> FromRequestParts<AppState> for Require<P> {
    type Rejection = RmError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Require<P>, RmError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if !caller.role.allows(P::PERMISSION) {
            let name = P::PERMISSION.as_str();
            return Err(RmError::Forbidden {
                permission: name,
                message: format!(
                    "this call needs the permission {name}, which the role {} does not grant",
                    caller.role.label()
                ),
            });
        }
        Ok(Require { caller, permission: PhantomData })
    }
}

/// The largest form body read for its token.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// For a console form posted to `/rm/v1` without the header: takes its
/// `csrf_token` field into `X-CSRF-Token`, so [`Caller`] checks one place.
pub(crate) async fn lift_form_token(State(_): State<AppState>, request: Request, next: Next) -> Response {
    let is_form = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if !is_form || !changes_state(request.method()) || request.headers().contains_key(CSRF_HEADER) {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
        return axum::response::IntoResponse::into_response(RmError::invalid("body", "is too large a form"));
    };
    let token = url::form_urlencoded::parse(&bytes).find(|(name, _)| name == CSRF_FIELD).map(|(_, value)| value);
    if let Some(value) = token.and_then(|token| HeaderValue::from_str(&token).ok()) {
        parts.headers.insert(CSRF_HEADER, value);
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}
