//! Authentication and authorization, as extractors: a handler's signature
//! states the access it needs.
//!
//! - [`Grant`]: a valid OAuth bearer token, and what it grants.
//! - [`OrgAccount`]: a grant holding a scope, for the organization and account
//!   of the path, within the organization's rate limit.
//! - `input`: an input's key, with its secret (Basic), a signature (HMAC) or,
//!   for web inputs, alone.

mod grant;
mod input;
mod org_account;

pub(crate) use grant::Grant;
pub(crate) use input::{basic_input, identity_input, web_input_by_key};
pub(crate) use org_account::{CustomRolesScope, OrgAccount, ProfileScope};
