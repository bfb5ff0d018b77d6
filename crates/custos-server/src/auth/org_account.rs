//! Access to the resources of one organization and account, as named by the path.

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use custos_core::ids::{AccountId, OrgId};
use custos_core::scope::Scope;

use super::Grant;
use crate::error::ApiError;
use crate::state::{retry_after_secs, AppState};

/// Names the scope an [`OrgAccount`] requires.
pub(crate) trait RequiredScope {
    const SCOPE: Scope;
    /// Whether the organization's Custom Access Roles limit applies.
    const ROLES_RATE_LIMITED: bool = false;
}

/// The Custom Access Roles API's scope.
#[derive(Debug)]
pub(crate) struct CustomRolesScope;

impl RequiredScope for CustomRolesScope {
    const SCOPE: Scope = Scope::CustomRoles;
    const ROLES_RATE_LIMITED: bool = true;
}

/// The Profile API's scope.
#[derive(Debug)]
pub(crate) struct ProfileScope;

impl RequiredScope for ProfileScope {
    const SCOPE: Scope = Scope::Profile;
}

/// Data subject request administration's scope.
#[derive(Debug)]
pub(crate) struct DsrScope;

impl RequiredScope for DsrScope {
    const SCOPE: Scope = Scope::Dsr;
}

/// A grant that holds scope `S` and may act on `/organizations/{org}/accounts/{account}`.
///
/// Checks, in order: the token (401), the scope (403), that the organization
/// and account of the path are the grant's (404, the same answer as for an
/// organization that does not exist, so nothing is revealed about other
/// tenants), and the organization's rate limit (429).
#[derive(Debug)]
pub(crate) struct OrgAccount<S> {
    pub(crate) grant: Grant,
    pub(crate) org_id: OrgId,
    pub(crate) account_id: AccountId,
    _scope: PhantomData<S>,
}

impl<S: RequiredScope + Send> FromRequestParts<AppState> for OrgAccount<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<OrgAccount<S>, ApiError> {
        let grant = Grant::from_request_parts(parts, state).await?;
        if !grant.0.scopes.contains(&S::SCOPE) {
            return Err(ApiError::Forbidden(format!(
                "this API credential lacks the `{}` scope needed by this API",
                S::SCOPE
            )));
        }
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("no such resource".into()))?;
        let param = |name: &str| -> Option<i64> {
            params.iter().find(|(key, _)| key == name).and_then(|(_, value)| value.parse().ok())
        };
        let (Some(org), Some(account)) = (param("org_id"), param("account_id")) else {
            return Err(ApiError::NotFound("orgId and accountId must be integers".into()));
        };
        let (org_id, account_id) = (OrgId(org), AccountId(account));
        if org_id != grant.0.org_id || !state.store.account_in_org(org_id, account_id).await? {
            return Err(ApiError::NotFound(format!("organization {org} has no account {account}")));
        }
        if !S::ROLES_RATE_LIMITED {
            return Ok(OrgAccount { grant, org_id, account_id, _scope: PhantomData });
        }
        if let Err(not_until) = state.roles_limiter.check_key(&org_id) {
            return Err(ApiError::RateLimited { retry_after_secs: retry_after_secs(&not_until), limit: "org" });
        }
        Ok(OrgAccount { grant, org_id, account_id, _scope: PhantomData })
    }
}
