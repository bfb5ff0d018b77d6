//! Creation of tenants and credentials, shared by the CLI and first start.
//!
//! Secrets are generated here, handed back once in plain text for the
//! operator, and reach the store only as hashes.

use custos_core::ids::OrgId;
use custos_core::scope::Scope;
use custos_store::{CreatedOrganization, HashedKey, NewApiCredential, NewOrganization, Store, StoreResult};
use time::OffsetDateTime;

use crate::sealing::MasterKey;
use crate::secrets::{hash_secret, new_key, new_secret};

/// A key and its secret in plain text: shown once, never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedKey {
    pub key: String,
    pub secret: String,
}

impl std::fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedKey").field("key", &self.key).field("secret", &"***").finish()
    }
}

impl IssuedKey {
    fn generate() -> IssuedKey {
        IssuedKey { key: new_key(), secret: new_secret() }
    }

    fn hashed(&self) -> HashedKey {
        HashedKey { key: self.key.clone(), secret_hash: hash_secret(&self.secret), secret_sealed: None }
    }

    fn hashed_and_sealed(&self, master_key: &MasterKey) -> HashedKey {
        HashedKey { secret_sealed: Some(master_key.seal(&self.secret)), ..self.hashed() }
    }
}

/// A new organization and every credential made for it.
#[derive(Debug, Clone)]
pub struct ProvisionedOrganization {
    pub ids: CreatedOrganization,
    /// The API client (OAuth client credentials), with every scope.
    pub api_client: IssuedKey,
    /// The workspace key and secret (Data Subject Request API).
    pub workspace: IssuedKey,
    /// The web input's key and secret (Web SDK, Identity API).
    pub web_input: IssuedKey,
    /// The server-to-server input's key and secret (Events API).
    pub server_input: IssuedKey,
}

/// Input secrets are sealed with `master_key` as well as hashed, for HMAC signatures.
pub async fn create_organization(
    store: &dyn Store,
    master_key: &MasterKey,
    name: &str,
) -> StoreResult<ProvisionedOrganization> {
    let now = OffsetDateTime::now_utc();
    let (api_client, workspace, web_input, server_input) =
        (IssuedKey::generate(), IssuedKey::generate(), IssuedKey::generate(), IssuedKey::generate());
    let ids = store
        .create_organization(NewOrganization {
            name: name.to_owned(),
            workspace: workspace.hashed(),
            web_input: web_input.hashed_and_sealed(master_key),
            server_input: server_input.hashed_and_sealed(master_key),
            api_credential: NewApiCredential {
                client_id: api_client.key.clone(),
                secret_hash: hash_secret(&api_client.secret),
                name: "Created by custos init".to_owned(),
                scopes: Scope::ALL.to_vec(),
                now,
            },
            now,
        })
        .await?;
    Ok(ProvisionedOrganization { ids, api_client, workspace, web_input, server_input })
}

/// A new API credential of an organization with only the given scopes.
pub async fn create_api_credential(
    store: &dyn Store,
    org_id: OrgId,
    name: &str,
    scopes: Vec<Scope>,
) -> StoreResult<IssuedKey> {
    let issued = IssuedKey::generate();
    store
        .create_api_credential(
            org_id,
            NewApiCredential {
                client_id: issued.key.clone(),
                secret_hash: hash_secret(&issued.secret),
                name: name.to_owned(),
                scopes,
                now: OffsetDateTime::now_utc(),
            },
        )
        .await?;
    Ok(issued)
}
