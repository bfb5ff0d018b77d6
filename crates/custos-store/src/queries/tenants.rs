//! Tenants and credentials: organizations, accounts, workspaces and their
//! keys, inputs, API credentials and their OAuth access tokens.

use async_trait::async_trait;
use custos_core::ids::{AccountId, OrgId, WorkspaceId};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use time::OffsetDateTime;

use super::{from_unix, join_scopes, split_scopes, unique_violation, unix, LOCK_ORG};
use crate::backend::{Args, Backend, Conn, DbRow, RowsAffected};
use crate::{
    ApiCredential, CreatedOrganization, InputKind, NewApiCredential, NewOrganization, StoreError, StoreResult,
    StoredApiCredential, StoredInput, StoredWorkspace, TokenGrant, WorkspacePlace,
};

/// Who the tenants are and how their callers authenticate.
#[async_trait]
pub trait TenantStore: Send + Sync {
    async fn create_organization(&self, new: NewOrganization) -> StoreResult<CreatedOrganization>;
    async fn count_organizations(&self) -> StoreResult<i64>;
    async fn account_in_org(&self, org_id: OrgId, account_id: AccountId) -> StoreResult<bool>;
    /// Adds an account to an organization.
    async fn create_account(&self, org_id: OrgId, name: &str, now: OffsetDateTime) -> StoreResult<AccountId>;

    async fn create_api_credential(&self, org_id: OrgId, new: NewApiCredential) -> StoreResult<ApiCredential>;
    async fn find_api_credential(&self, client_id: &str) -> StoreResult<Option<StoredApiCredential>>;
    async fn list_api_credentials(&self, org_id: OrgId) -> StoreResult<Vec<ApiCredential>>;
    /// Deletes a credential and every token issued to it. Returns whether it existed.
    async fn delete_api_credential(&self, client_id: &str) -> StoreResult<bool>;

    // OAuth access tokens, by the SHA-256 of the token.
    async fn insert_access_token(
        &self,
        token_hash: &str,
        credential_id: i64,
        expires_at: OffsetDateTime,
    ) -> StoreResult<()>;
    /// The grant behind an unexpired token.
    async fn find_access_token(&self, token_hash: &str, now: OffsetDateTime) -> StoreResult<Option<TokenGrant>>;
    async fn delete_expired_access_tokens(&self, now: OffsetDateTime) -> StoreResult<u64>;

    // Inputs and workspaces.
    async fn find_input(&self, key: &str) -> StoreResult<Option<StoredInput>>;
    async fn find_workspace(&self, workspace_id: WorkspaceId) -> StoreResult<Option<WorkspacePlace>>;
    /// The workspace of a DSR API key, with the hash of its secret.
    async fn find_workspace_by_key(&self, key: &str) -> StoreResult<Option<StoredWorkspace>>;
}

// The bounds say what these statements bind and read on `B::Db`; the docs
// of `queries` say why each area repeats its own.
#[async_trait]
impl<B: Backend> TenantStore for B
where
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::Db>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> String: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<String>: Encode<'q, B::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<B>>,
    usize: ColumnIndex<DbRow<B>>,
{
    async fn create_organization(&self, new: NewOrganization) -> StoreResult<CreatedOrganization> {
        let now = unix(new.now);
        let mut tx = self.writer().begin().await?;
        let org_id: i64 =
            sqlx::query_scalar("INSERT INTO organizations (name, created_at) VALUES ($1, $2) RETURNING id")
                .bind(&new.name)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
        let account_id: i64 =
            sqlx::query_scalar("INSERT INTO accounts (org_id, name, created_at) VALUES ($1, $2, $3) RETURNING id")
                .bind(org_id)
                .bind(&new.name)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
        let workspace_id: i64 = sqlx::query_scalar(
            "INSERT INTO workspaces (account_id, org_id, name, api_key, secret_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(account_id)
        .bind(org_id)
        .bind(&new.name)
        .bind(&new.workspace.key)
        .bind(&new.workspace.secret_hash)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| unique_violation(e, "workspace key"))?;
        for (kind, input) in [("web", &new.web_input), ("server", &new.server_input)] {
            sqlx::query(
                "INSERT INTO inputs (workspace_id, kind, api_key, secret_hash, secret_sealed, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(workspace_id)
            .bind(kind)
            .bind(&input.key)
            .bind(&input.secret_hash)
            .bind(&input.secret_sealed)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| unique_violation(e, "input key"))?;
        }
        insert_credential(&mut *tx, org_id, &new.api_credential).await?;
        tx.commit().await?;
        Ok(CreatedOrganization {
            org_id: OrgId(org_id),
            account_id: AccountId(account_id),
            workspace_id: WorkspaceId(workspace_id),
        })
    }

    async fn count_organizations(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM organizations").fetch_one(self.reader()).await?)
    }

    async fn account_in_org(&self, org_id: OrgId, account_id: AccountId) -> StoreResult<bool> {
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM accounts WHERE id = $1 AND org_id = $2")
            .bind(account_id.0)
            .bind(org_id.0)
            .fetch_optional(self.reader())
            .await?;
        Ok(found.is_some())
    }

    async fn create_account(&self, org_id: OrgId, name: &str, now: OffsetDateTime) -> StoreResult<AccountId> {
        let mut tx = self.writer().begin().await?;
        if sqlx::query(LOCK_ORG).bind(org_id.0).execute(&mut *tx).await?.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let id: i64 =
            sqlx::query_scalar("INSERT INTO accounts (org_id, name, created_at) VALUES ($1, $2, $3) RETURNING id")
                .bind(org_id.0)
                .bind(name)
                .bind(unix(now))
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(AccountId(id))
    }

    async fn create_api_credential(&self, org_id: OrgId, new: NewApiCredential) -> StoreResult<ApiCredential> {
        let mut tx = self.writer().begin().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM organizations WHERE id = $1")
            .bind(org_id.0)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        let credential = insert_credential(&mut *tx, org_id.0, &new).await?;
        tx.commit().await?;
        Ok(credential)
    }

    async fn find_api_credential(&self, client_id: &str) -> StoreResult<Option<StoredApiCredential>> {
        let row = sqlx::query(
            "SELECT id, org_id, client_id, name, scopes, created_at, secret_hash \
             FROM api_credentials WHERE client_id = $1",
        )
        .bind(client_id)
        .fetch_optional(self.reader())
        .await?;
        row.map(|row| {
            Ok(StoredApiCredential { credential: credential_from_row(&row)?, secret_hash: row.try_get("secret_hash")? })
        })
        .transpose()
    }

    async fn list_api_credentials(&self, org_id: OrgId) -> StoreResult<Vec<ApiCredential>> {
        let rows = sqlx::query(
            "SELECT id, org_id, client_id, name, scopes, created_at FROM api_credentials \
             WHERE org_id = $1 ORDER BY id",
        )
        .bind(org_id.0)
        .fetch_all(self.reader())
        .await?;
        Ok(rows.iter().map(credential_from_row).collect::<Result<_, _>>()?)
    }

    async fn delete_api_credential(&self, client_id: &str) -> StoreResult<bool> {
        let mut tx = self.writer().begin().await?;
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM api_credentials WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(id) = id else { return Ok(false) };
        // Explicit rather than relying on ON DELETE CASCADE, which SQLite
        // only honours with foreign keys switched on.
        sqlx::query("DELETE FROM access_tokens WHERE credential_id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM api_credentials WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn insert_access_token(
        &self,
        token_hash: &str,
        credential_id: i64,
        expires_at: OffsetDateTime,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO access_tokens (token_hash, credential_id, expires_at) VALUES ($1, $2, $3)")
            .bind(token_hash)
            .bind(credential_id)
            .bind(unix(expires_at))
            .execute(self.writer())
            .await
            .map_err(|e| unique_violation(e, "access token"))?;
        Ok(())
    }

    async fn find_access_token(&self, token_hash: &str, now: OffsetDateTime) -> StoreResult<Option<TokenGrant>> {
        let row = sqlx::query(
            "SELECT c.id, c.name, c.org_id, c.scopes FROM access_tokens t \
             JOIN api_credentials c ON c.id = t.credential_id \
             WHERE t.token_hash = $1 AND t.expires_at > $2",
        )
        .bind(token_hash)
        .bind(unix(now))
        .fetch_optional(self.reader())
        .await?;
        row.map(|row| {
            Ok(TokenGrant {
                credential_id: row.try_get("id")?,
                credential_name: row.try_get("name")?,
                org_id: OrgId(row.try_get("org_id")?),
                scopes: split_scopes(&row.try_get::<String, _>("scopes")?),
            })
        })
        .transpose()
    }

    async fn delete_expired_access_tokens(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM access_tokens WHERE expires_at <= $1")
            .bind(unix(now))
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected())
    }

    async fn find_input(&self, key: &str) -> StoreResult<Option<StoredInput>> {
        let row = sqlx::query(
            "SELECT i.id, i.kind, i.workspace_id, i.secret_hash, i.secret_sealed, w.org_id FROM inputs i \
             JOIN workspaces w ON w.id = i.workspace_id WHERE i.api_key = $1",
        )
        .bind(key)
        .fetch_optional(self.reader())
        .await?;
        row.map(|row| {
            Ok(StoredInput {
                id: row.try_get("id")?,
                kind: if row.try_get::<String, _>("kind")? == "web" { InputKind::Web } else { InputKind::Server },
                workspace_id: WorkspaceId(row.try_get("workspace_id")?),
                org_id: OrgId(row.try_get("org_id")?),
                secret_hash: row.try_get("secret_hash")?,
                secret_sealed: row.try_get("secret_sealed")?,
            })
        })
        .transpose()
    }

    async fn find_workspace(&self, workspace_id: WorkspaceId) -> StoreResult<Option<WorkspacePlace>> {
        let row = sqlx::query("SELECT account_id, org_id FROM workspaces WHERE id = $1")
            .bind(workspace_id.0)
            .fetch_optional(self.reader())
            .await?;
        row.map(|row| {
            Ok(WorkspacePlace {
                workspace_id,
                account_id: AccountId(row.try_get("account_id")?),
                org_id: OrgId(row.try_get("org_id")?),
            })
        })
        .transpose()
    }

    async fn find_workspace_by_key(&self, key: &str) -> StoreResult<Option<StoredWorkspace>> {
        let row = sqlx::query("SELECT id, account_id, org_id, secret_hash FROM workspaces WHERE api_key = $1")
            .bind(key)
            .fetch_optional(self.reader())
            .await?;
        row.map(|row| {
            Ok(StoredWorkspace {
                workspace_id: WorkspaceId(row.try_get("id")?),
                account_id: AccountId(row.try_get("account_id")?),
                org_id: OrgId(row.try_get("org_id")?),
                secret_hash: row.try_get("secret_hash")?,
            })
        })
        .transpose()
    }
}

async fn insert_credential<C, Db>(conn: &mut C, org_id: i64, new: &NewApiCredential) -> StoreResult<ApiCredential>
where
    Db: Database,
    for<'c> &'c mut C: Executor<'c, Database = Db>,
    for<'q> Db::Arguments<'q>: IntoArguments<'q, Db>,
    for<'q> i64: Encode<'q, Db> + Decode<'q, Db> + Type<Db>,
    for<'q> String: Encode<'q, Db> + Decode<'q, Db> + Type<Db>,
    for<'a> &'a str: ColumnIndex<Db::Row>,
{
    let row = sqlx::query(
        "INSERT INTO api_credentials (org_id, client_id, secret_hash, name, scopes, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, org_id, client_id, name, scopes, created_at",
    )
    .bind(org_id)
    .bind(&new.client_id)
    .bind(&new.secret_hash)
    .bind(&new.name)
    .bind(join_scopes(&new.scopes))
    .bind(unix(new.now))
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| unique_violation(e, "client_id"))?;
    Ok(credential_from_row(&row)?)
}

fn credential_from_row<R: Row>(row: &R) -> Result<ApiCredential, sqlx::Error>
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    Ok(ApiCredential {
        id: row.try_get("id")?,
        org_id: OrgId(row.try_get("org_id")?),
        client_id: row.try_get("client_id")?,
        name: row.try_get("name")?,
        scopes: split_scopes(&row.try_get::<String, _>("scopes")?),
        created_at: from_unix(row.try_get("created_at")?),
    })
}
