//! The records the store reads and writes.

use crate::BatchBody;
use custos_core::access::Role;
use custos_core::identity::{Identity, IdentityType, Mpid};
use custos_core::ids::{AccountId, OrgId, WorkspaceId};
use custos_core::scope::Scope;
use time::OffsetDateTime;

/// A key with the SHA-256 (hex) of its secret and, where the secret must be
/// recovered (input secrets, for HMAC signatures), the secret sealed with
/// the server's master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashedKey {
    pub key: String,
    pub secret_hash: String,
    pub secret_sealed: Option<String>,
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

/// Which kind of input a key belongs to: web (Web SDK; key-only identity
/// auth allowed) or server-to-server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Web,
    Server,
}

impl InputKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::Web => "web",
            InputKind::Server => "server",
        }
    }
}

/// An input key with what authenticating it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInput {
    pub id: i64,
    pub kind: InputKind,
    pub workspace_id: WorkspaceId,
    pub org_id: OrgId,
    pub secret_hash: String,
    pub secret_sealed: Option<String>,
}

/// Where a workspace sits in the tenant hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkspacePlace {
    pub workspace_id: WorkspaceId,
    pub account_id: AccountId,
    pub org_id: OrgId,
}

/// What an Identity API request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityOutcome {
    /// `None` when a search found nothing.
    pub mpid: Option<Mpid>,
    pub created: bool,
    pub matched: Vec<Identity>,
    pub logged_in: bool,
}

/// One change of a modify request: `old` absent adds, `new` absent removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityChange {
    pub kind: IdentityType,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// A consent state for one regulation and purpose, as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    /// `gdpr` or `ccpa`.
    pub regulation: String,
    /// The GDPR purpose, or `data_sale_opt_out` for CCPA.
    pub purpose: String,
    pub state_json: String,
}

/// A validated event batch, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingBatch {
    pub workspace_id: WorkspaceId,
    pub input_id: i64,
    pub source_request_id: Option<String>,
    pub mpid: Option<Mpid>,
    /// The MPID to give a profile if the batch creates one.
    pub new_mpid: Mpid,
    pub identities: Vec<Identity>,
    /// Attribute name and value as JSON.
    pub attributes: Vec<(String, String)>,
    pub deleted_attributes: Vec<String>,
    pub consent: Vec<ConsentRecord>,
    pub opted_out: Option<bool>,
    pub event_count: i64,
    /// The batch as received (JSON), compressed.
    pub body: BatchBody,
    pub received_at_ms: i64,
    /// Keyed hashes of the batch's identities and MPID: a batch naming a
    /// suppressed subject is dropped.
    pub suppression_keys: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestOutcome {
    pub mpid: Mpid,
    /// Already stored under the same `source_request_id`: not stored again.
    pub duplicate: bool,
    /// It names a suppressed (erased) subject: dropped.
    pub suppressed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredIdentity {
    pub identity: Identity,
    pub created_at_ms: i64,
}

/// A profile as the Profile API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub mpid: Mpid,
    pub created_at_ms: i64,
    /// When data was last stored for the profile: its latest batch, or a
    /// later change through the Identity API.
    pub updated_at_ms: i64,
    pub opted_out: bool,
    pub identities: Vec<StoredIdentity>,
    /// Name and value as JSON.
    pub attributes: Vec<(String, String)>,
    pub consent: Vec<ConsentRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub batches: i64,
    pub events: i64,
    pub profiles: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stats {
    pub totals: Counts,
    pub workspaces: Vec<WorkspaceCounts>,
}

/// What one workspace holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkspaceCounts {
    pub workspace_id: WorkspaceId,
    pub counts: Counts,
}

/// A stored batch as read back: its id (increasing in the order batches
/// were stored) and the batch as received (JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBatch {
    pub id: i64,
    pub body: String,
}
