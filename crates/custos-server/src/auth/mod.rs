//! Authentication and authorization, as extractors: a handler's signature
//! states the access it needs.
//!
//! - [`Grant`]: a valid OAuth bearer token, and what it grants.
//! - [`OrgAccount`]: a grant holding a scope, for the organization and account
//!   of the path, within the organization's rate limit.
//! - [`DsrWorkspace`]: a workspace's key and secret (the Data Subject Request
//!   API), within the workspace's rate limit.
//! - [`EventsInput`], [`IdentityInput`], [`WebSdkInput`]: an input's key, with
//!   its secret (Basic), a signature (HMAC) or, for web inputs, alone.
//! - [`WithBody`]: any of these, checked once the body is read, where the
//!   API always read the body first.

use axum::http::HeaderMap;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

mod grant;
mod input;
mod org_account;
mod with_body;
mod workspace;

pub(crate) use grant::Grant;
pub(crate) use input::{EventsInput, IdentityInput, WebSdkInput};
pub(crate) use org_account::{CustomRolesScope, DsrScope, OrgAccount, ProfileScope};
pub(crate) use with_body::WithBody;
pub(crate) use workspace::{rate_limited, DsrWorkspace};

/// A key and its secret, from an HTTP Basic `Authorization` header.
pub(crate) struct BasicCredentials {
    pub(crate) key: String,
    pub(crate) secret: String,
}

/// An `Authorization` header that holds no well-formed Basic credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MalformedBasic;

/// HTTP Basic credentials: `None` without an `Authorization` header.
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<Result<BasicCredentials, MalformedBasic>> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?;
    let parsed = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
        .and_then(|encoded| STANDARD.decode(encoded.trim()).ok())
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .and_then(|text| {
            text.split_once(':')
                .map(|(key, secret)| BasicCredentials { key: key.to_owned(), secret: secret.to_owned() })
        });
    Some(parsed.ok_or(MalformedBasic))
}
