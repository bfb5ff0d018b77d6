//! Roles and users: an organization's custom access roles (its manifest)
//! and the role each of its users holds.

use async_trait::async_trait;
use custos_core::access::{Manifest, Role};
use custos_core::ids::OrgId;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Row, Type};
use time::OffsetDateTime;

use super::{from_unix, join_tasks, split_tasks, unix, LOCK_ORG};
use crate::backend::{Args, Backend, Conn, DbRow, RowsAffected};
use crate::{RoleKind, StoreError, StoreResult, StoredManifest, UserRole};

/// Custom access roles and their assignment to users.
#[async_trait]
pub trait RoleStore: Send + Sync {
    async fn role_manifest(&self, org_id: OrgId) -> StoreResult<StoredManifest>;
    /// Replaces the organization's whole manifest atomically, serialized with
    /// every other manifest or assignment change of the organization.
    /// Fails with [`StoreError::RoleAssigned`] if it would delete an assigned role.
    async fn replace_role_manifest(
        &self,
        org_id: OrgId,
        manifest: &Manifest,
        modified_by: &str,
        now: OffsetDateTime,
    ) -> StoreResult<StoredManifest>;
    async fn find_custom_role(&self, org_id: OrgId, role_id: &str) -> StoreResult<Option<Role>>;

    /// Assigns a role: the organization's custom role of that id if there is
    /// one, else the standard role of that id, else [`StoreError::UnknownRole`].
    async fn assign_user_role(
        &self,
        org_id: OrgId,
        email: &str,
        role_id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<UserRole>;
    async fn list_users(&self, org_id: OrgId) -> StoreResult<Vec<UserRole>>;
    async fn remove_user(&self, org_id: OrgId, email: &str) -> StoreResult<bool>;
}

// The bounds say what these statements bind and read on `B::Db`; the docs
// of `queries` say why each area repeats its own.
#[async_trait]
impl<B: Backend> RoleStore for B
where
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::Db>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> String: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'a> &'a str: ColumnIndex<DbRow<B>>,
    usize: ColumnIndex<DbRow<B>>,
{
    async fn role_manifest(&self, org_id: OrgId) -> StoreResult<StoredManifest> {
        let mut conn = self.reader().acquire().await?;
        // One statement, so the roles and the modification stamp come from one snapshot.
        let rows = sqlx::query(
            "SELECT o.roles_modified_at, o.roles_modified_by, r.role_id, r.name, r.description, r.tasks \
             FROM organizations o LEFT JOIN custom_roles r ON r.org_id = o.id \
             WHERE o.id = $1 ORDER BY r.position",
        )
        .bind(org_id.0)
        .fetch_all(&mut *conn)
        .await?;
        let first = rows.first().ok_or(StoreError::NotFound)?;
        let modified_at = first.try_get::<Option<i64>, _>("roles_modified_at")?.map(from_unix);
        let modified_by = first.try_get("roles_modified_by")?;
        let mut roles = Vec::with_capacity(rows.len());
        for row in &rows {
            if row.try_get::<Option<String>, _>("role_id")?.is_some() {
                roles.push(role_from_row(row)?);
            }
        }
        Ok(StoredManifest { roles, modified_at, modified_by })
    }

    async fn replace_role_manifest(
        &self,
        org_id: OrgId,
        manifest: &Manifest,
        modified_by: &str,
        now: OffsetDateTime,
    ) -> StoreResult<StoredManifest> {
        let mut tx = self.writer().begin().await?;
        if sqlx::query(LOCK_ORG).bind(org_id.0).execute(&mut *tx).await?.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let assigned: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT role_id FROM org_users WHERE org_id = $1 AND role_kind = 'custom' ORDER BY role_id",
        )
        .bind(org_id.0)
        .fetch_all(&mut *tx)
        .await?;
        let deleted_but_assigned: Vec<String> = assigned
            .into_iter()
            .filter(|role_id| !manifest.roles.iter().any(|role| &role.role_id == role_id))
            .collect();
        if !deleted_but_assigned.is_empty() {
            return Err(StoreError::RoleAssigned(deleted_but_assigned));
        }
        sqlx::query("DELETE FROM custom_roles WHERE org_id = $1").bind(org_id.0).execute(&mut *tx).await?;
        for (position, role) in manifest.roles.iter().enumerate() {
            sqlx::query(
                "INSERT INTO custom_roles (org_id, role_id, position, name, description, tasks) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(org_id.0)
            .bind(&role.role_id)
            .bind(position as i64)
            .bind(&role.name)
            .bind(&role.description)
            .bind(join_tasks(role))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE organizations SET roles_modified_at = $1, roles_modified_by = $2 WHERE id = $3")
            .bind(unix(now))
            .bind(modified_by)
            .bind(org_id.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(StoredManifest {
            roles: manifest.roles.clone(),
            modified_at: Some(from_unix(unix(now))),
            modified_by: Some(modified_by.to_owned()),
        })
    }

    async fn find_custom_role(&self, org_id: OrgId, role_id: &str) -> StoreResult<Option<Role>> {
        let row = sqlx::query(
            "SELECT role_id, name, description, tasks FROM custom_roles WHERE org_id = $1 AND role_id = $2",
        )
        .bind(org_id.0)
        .bind(role_id)
        .fetch_optional(self.reader())
        .await?;
        Ok(row.as_ref().map(role_from_row).transpose()?)
    }

    async fn assign_user_role(
        &self,
        org_id: OrgId,
        email: &str,
        role_id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<UserRole> {
        let mut tx = self.writer().begin().await?;
        if sqlx::query(LOCK_ORG).bind(org_id.0).execute(&mut *tx).await?.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let custom: Option<String> =
            sqlx::query_scalar("SELECT role_id FROM custom_roles WHERE org_id = $1 AND role_id = $2")
                .bind(org_id.0)
                .bind(role_id)
                .fetch_optional(&mut *tx)
                .await?;
        let kind = match custom {
            Some(_) => RoleKind::Custom,
            None if custos_core::access::standard::find(role_id).is_some() => RoleKind::Standard,
            None => return Err(StoreError::UnknownRole(role_id.to_owned())),
        };
        let row = sqlx::query(
            "INSERT INTO org_users (org_id, email, role_id, role_kind, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (org_id, email) DO UPDATE \
             SET role_id = excluded.role_id, role_kind = excluded.role_kind, updated_at = excluded.updated_at \
             RETURNING email, role_id, role_kind, created_at, updated_at",
        )
        .bind(org_id.0)
        .bind(email)
        .bind(role_id)
        .bind(kind.as_str())
        .bind(unix(now))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(user_from_row(&row)?)
    }

    async fn list_users(&self, org_id: OrgId) -> StoreResult<Vec<UserRole>> {
        let rows = sqlx::query(
            "SELECT email, role_id, role_kind, created_at, updated_at FROM org_users \
             WHERE org_id = $1 ORDER BY email",
        )
        .bind(org_id.0)
        .fetch_all(self.reader())
        .await?;
        Ok(rows.iter().map(user_from_row).collect::<Result<_, _>>()?)
    }

    async fn remove_user(&self, org_id: OrgId, email: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM org_users WHERE org_id = $1 AND email = $2")
            .bind(org_id.0)
            .bind(email)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

fn role_from_row<R: Row>(row: &R) -> Result<Role, sqlx::Error>
where
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    Ok(Role {
        role_id: row.try_get("role_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        tasks: split_tasks(&row.try_get::<String, _>("tasks")?),
    })
}

fn user_from_row<R: Row>(row: &R) -> Result<UserRole, sqlx::Error>
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    Ok(UserRole {
        email: row.try_get("email")?,
        role_id: row.try_get("role_id")?,
        role_kind: RoleKind::parse(&row.try_get::<String, _>("role_kind")?),
        created_at: from_unix(row.try_get("created_at")?),
        updated_at: from_unix(row.try_get("updated_at")?),
    })
}
