//! Custom access roles: tasks, roles, the role manifest and what a role permits.
//!
//! A manifest is the whole set of an organization's custom roles; it is
//! replaced as a whole. [`validate_manifest`] turns an uploaded manifest into
//! a [`Manifest`] or lists every rule it breaks, and [`Permissions`] answers
//! whether a role allows a task.

mod manifest;
mod permissions;
pub mod standard;
pub mod tasks;
mod user;

pub use manifest::{
    validate_manifest, Manifest, ManifestChange, ManifestViolation, Role, RoleDraft, TaskDraft, MAX_DESCRIPTION_CHARS,
    MAX_NAME_CHARS, MAX_ROLES_PER_ORG, MAX_ROLE_ID_CHARS,
};
pub use permissions::Permissions;
pub use user::{InvalidEmail, UserEmail, MAX_EMAIL_CHARS};
