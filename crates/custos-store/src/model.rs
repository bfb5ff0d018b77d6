//! The records the store reads and writes.

use custos_core::access::Role;
use custos_core::ids::{AccountId, OrgId, WorkspaceId};
use custos_core::scope::Scope;
use time::OffsetDateTime;

/// A key with the SHA-256 (hex) of its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashedKey {
    pub key: String,
    pub secret_hash: String,
}

/// A new organization with its first account, workspace, inputs and API credential.
#[derive(Debug, Clone)]
pub struct NewOrganization {
    pub name: String,
    pub workspace: HashedKey,
    pub web_input: HashedKey,
    pub server_input: HashedKey,
    pub api_credential: NewApiCredential,
    pub now: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreatedOrganization {
    pub org_id: OrgId,
    pub account_id: AccountId,
    pub workspace_id: WorkspaceId,
}

#[derive(Debug, Clone)]
pub struct NewApiCredential {
    pub client_id: String,
    pub secret_hash: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub now: OffsetDateTime,
}

/// An API credential as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCredential {
    pub id: i64,
    pub org_id: OrgId,
    pub client_id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: OffsetDateTime,
}

/// An API credential with the hash its secret is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredApiCredential {
    pub credential: ApiCredential,
    pub secret_hash: String,
}

/// What a valid access token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub credential_id: i64,
    pub credential_name: String,
    pub org_id: OrgId,
    pub scopes: Vec<Scope>,
}

/// An organization's custom roles and who last changed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredManifest {
    pub roles: Vec<Role>,
    pub modified_at: Option<OffsetDateTime>,
    pub modified_by: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleKind {
    Custom,
    Standard,
}

impl RoleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RoleKind::Custom => "custom",
            RoleKind::Standard => "standard",
        }
    }

    pub(crate) fn parse(text: &str) -> RoleKind {
        if text == "custom" {
            RoleKind::Custom
        } else {
            RoleKind::Standard
        }
    }
}

/// A user of an organization and the role assigned to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRole {
    pub email: String,
    pub role_id: String,
    pub role_kind: RoleKind,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}
