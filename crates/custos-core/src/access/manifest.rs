//! Validation of an uploaded role manifest.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use super::tasks::{self, CORE_TASK};

/// At most this many custom roles per organization.
pub const MAX_ROLES_PER_ORG: usize = 100;
/// Longest role id, in characters.
pub const MAX_ROLE_ID_CHARS: usize = 64;
/// Longest role name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest role description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 256;

/// A role as uploaded, before validation. Every field may be missing so that
/// a missing field is reported by name instead of as a parse failure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleDraft {
    pub role_id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub tasks: Option<Vec<TaskDraft>>,
}

/// One task entry of an uploaded role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskDraft {
    pub task_id: Option<String>,
}

/// A valid custom role. Its tasks always start with `user:core` and hold no duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub role_id: String,
    pub name: String,
    pub description: String,
    pub tasks: Vec<String>,
}

/// A valid manifest: the complete set of an organization's custom roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub roles: Vec<Role>,
}

/// One rule an uploaded manifest breaks. `Display` gives the message the API answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestViolation {
    TooManyRoles {
        count: usize,
    },
    Missing {
        field: String,
    },
    TooLong {
        field: String,
        max: usize,
        actual: usize,
    },
    ControlCharacter {
        field: String,
    },
    TasksNotFound {
        role_id: String,
        task_ids: Vec<String>,
    },
    DuplicateRoleId {
        role_id: String,
    },
    /// Two roles share a name (compared ignoring case). The API answers 409 for it.
    DuplicateName {
        name: String,
    },
}

impl ManifestViolation {
    /// Whether this is a conflict between roles (409) rather than a malformed role (400).
    pub fn is_conflict(&self) -> bool {
        matches!(self, ManifestViolation::DuplicateName { .. })
    }
}

impl fmt::Display for ManifestViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestViolation::TooManyRoles { count } => write!(
                f,
                "roles: a manifest holds at most {MAX_ROLES_PER_ORG} custom roles per organization, this one has {count}"
            ),
            ManifestViolation::Missing { field } => write!(f, "{field}: is required and must not be empty"),
            ManifestViolation::TooLong { field, max, actual } => write!(
                f,
                "{field}: exceeds the maximum length of {max} characters ({actual} given)"
            ),
            ManifestViolation::ControlCharacter { field } => {
                write!(f, "{field}: contains a restricted (control) character")
            }
            ManifestViolation::TasksNotFound { role_id, task_ids } => write!(
                f,
                "Tasks not found in role `{role_id}`: {}",
                task_ids.join(", ")
            ),
            ManifestViolation::DuplicateRoleId { role_id } => {
                write!(f, "role_id: `{role_id}` appears more than once in the manifest")
            }
            ManifestViolation::DuplicateName { name } => write!(
                f,
                "Conflict: a custom role named `{name}` already exists in the manifest; use a different name"
            ),
        }
    }
}

/// Checks an uploaded manifest against every limit and rule, and normalizes it.
///
/// All violations are reported at once, so a client can fix its manifest in one round trip.
pub fn validate_manifest(drafts: Vec<RoleDraft>) -> Result<Manifest, Vec<ManifestViolation>> {
    let mut violations = Vec::new();
    if drafts.len() > MAX_ROLES_PER_ORG {
        violations.push(ManifestViolation::TooManyRoles { count: drafts.len() });
    }

    let mut roles = Vec::with_capacity(drafts.len());
    let mut seen_ids: HashMap<String, ()> = HashMap::new();
    let mut seen_names: BTreeSet<String> = BTreeSet::new();
    for (index, draft) in drafts.into_iter().enumerate() {
        let at = |field: &str| format!("roles[{index}].{field}");
        let role_id = check_text(&at("role_id"), draft.role_id, MAX_ROLE_ID_CHARS, &mut violations);
        let name = check_text(&at("name"), draft.name, MAX_NAME_CHARS, &mut violations);
        let description = check_text(&at("description"), draft.description, MAX_DESCRIPTION_CHARS, &mut violations);
        let tasks = match draft.tasks {
            None => {
                violations.push(ManifestViolation::Missing { field: at("tasks") });
                None
            }
            Some(tasks) => {
                check_tasks(&at("tasks"), role_id.as_deref().unwrap_or("(missing role_id)"), tasks, &mut violations)
            }
        };

        if let Some(role_id) = &role_id {
            if seen_ids.insert(role_id.clone(), ()).is_some() {
                violations.push(ManifestViolation::DuplicateRoleId { role_id: role_id.clone() });
            }
        }
        if let Some(name) = &name {
            if !seen_names.insert(name.to_lowercase()) {
                violations.push(ManifestViolation::DuplicateName { name: name.clone() });
            }
        }
        if let (Some(role_id), Some(name), Some(description), Some(tasks)) = (role_id, name, description, tasks) {
            roles.push(Role { role_id, name, description, tasks });
        }
    }

    if violations.is_empty() {
        Ok(Manifest { roles })
    } else {
        Err(violations)
    }
}

fn check_text(
    field: &str,
    value: Option<String>,
    max: usize,
    violations: &mut Vec<ManifestViolation>,
) -> Option<String> {
    let Some(value) = value.filter(|value| !value.trim().is_empty()) else {
        violations.push(ManifestViolation::Missing { field: field.to_owned() });
        return None;
    };
    let mut ok = true;
    let actual = value.chars().count();
    if actual > max {
        violations.push(ManifestViolation::TooLong { field: field.to_owned(), max, actual });
        ok = false;
    }
    if value.chars().any(char::is_control) {
        violations.push(ManifestViolation::ControlCharacter { field: field.to_owned() });
        ok = false;
    }
    ok.then_some(value)
}

/// Resolves a role's task list: every id must be in the catalog; `user:core`
/// is put first whether or not it was listed; duplicates are folded.
fn check_tasks(
    field: &str,
    role_id: &str,
    drafts: Vec<TaskDraft>,
    violations: &mut Vec<ManifestViolation>,
) -> Option<Vec<String>> {
    let mut resolved = vec![CORE_TASK.to_owned()];
    let mut unknown = Vec::new();
    let mut ok = true;
    for (index, draft) in drafts.into_iter().enumerate() {
        match draft.task_id {
            Some(task_id) if tasks::find(&task_id).is_some() => {
                if !resolved.contains(&task_id) {
                    resolved.push(task_id);
                }
            }
            Some(task_id) if !task_id.trim().is_empty() => unknown.push(task_id),
            _ => {
                violations.push(ManifestViolation::Missing { field: format!("{field}[{index}].task_id") });
                ok = false;
            }
        }
    }
    if !unknown.is_empty() {
        violations.push(ManifestViolation::TasksNotFound { role_id: role_id.to_owned(), task_ids: unknown });
        ok = false;
    }
    ok.then_some(resolved)
}

/// How a new manifest differs from the one it replaces, by role id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestChange {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub deleted: Vec<String>,
}

impl ManifestChange {
    pub fn between(current: &[Role], next: &Manifest) -> ManifestChange {
        let mut change = ManifestChange::default();
        for role in &next.roles {
            match current.iter().find(|old| old.role_id == role.role_id) {
                None => change.created.push(role.role_id.clone()),
                Some(old) if old != role => change.updated.push(role.role_id.clone()),
                Some(_) => {}
            }
        }
        change.deleted = current
            .iter()
            .filter(|old| !next.roles.iter().any(|role| role.role_id == old.role_id))
            .map(|old| old.role_id.clone())
            .collect();
        change
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(role_id: &str, name: &str, tasks: &[&str]) -> RoleDraft {
        RoleDraft {
            role_id: Some(role_id.into()),
            name: Some(name.into()),
            description: Some(format!("{name} role")),
            tasks: Some(tasks.iter().map(|t| TaskDraft { task_id: Some((*t).into()) }).collect()),
        }
    }

    #[test]
    fn a_valid_role_gets_user_core_first_and_duplicates_folded() {
        let manifest =
            validate_manifest(vec![draft("m", "Marketer", &["audiences:*", "audiences:*", "user:core"])]).unwrap();
        assert_eq!(manifest.roles[0].tasks, vec!["user:core", "audiences:*"]);
    }

    #[test]
    fn every_violation_is_reported_with_its_field() {
        let long_name = "n".repeat(65);
        let violations = validate_manifest(vec![
            RoleDraft { role_id: None, name: Some(long_name), description: Some("ok\u{7}".into()), tasks: None },
            draft("x", "X", &["audiences:*", "nope:view", "rules:fly"]),
        ])
        .unwrap_err();
        let messages: Vec<String> = violations.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            vec![
                "roles[0].role_id: is required and must not be empty",
                "roles[0].name: exceeds the maximum length of 64 characters (65 given)",
                "roles[0].description: contains a restricted (control) character",
                "roles[0].tasks: is required and must not be empty",
                "Tasks not found in role `x`: nope:view, rules:fly",
            ]
        );
        assert!(violations.iter().all(|v| !v.is_conflict()));
    }

    #[test]
    fn limits_are_inclusive_and_counted_in_characters() {
        let role = RoleDraft {
            role_id: Some("é".repeat(64)),
            name: Some("ñ".repeat(64)),
            description: Some("d".repeat(256)),
            tasks: Some(vec![]),
        };
        assert!(validate_manifest(vec![role.clone()]).is_ok());
        let too_long = RoleDraft { description: Some("d".repeat(257)), ..role };
        assert!(validate_manifest(vec![too_long]).is_err());
    }

    #[test]
    fn more_than_one_hundred_roles_are_refused() {
        let roles: Vec<_> = (0..=100).map(|i| draft(&format!("r{i}"), &format!("R{i}"), &[])).collect();
        let violations = validate_manifest(roles.clone()).unwrap_err();
        assert_eq!(violations, vec![ManifestViolation::TooManyRoles { count: 101 }]);
        assert!(validate_manifest(roles[..100].to_vec()).is_ok());
    }

    #[test]
    fn duplicate_names_conflict_ignoring_case_and_duplicate_ids_are_invalid() {
        let violations = validate_manifest(vec![draft("a", "Marketer", &[]), draft("b", "marketer", &[])]).unwrap_err();
        assert_eq!(violations, vec![ManifestViolation::DuplicateName { name: "marketer".into() }]);
        assert!(violations[0].is_conflict());

        let violations = validate_manifest(vec![draft("a", "A", &[]), draft("a", "B", &[])]).unwrap_err();
        assert_eq!(violations, vec![ManifestViolation::DuplicateRoleId { role_id: "a".into() }]);
    }

    #[test]
    fn a_change_lists_created_updated_and_deleted_roles() {
        let current =
            validate_manifest(vec![draft("keep", "Keep", &[]), draft("edit", "Edit", &[]), draft("gone", "Gone", &[])])
                .unwrap()
                .roles;
        let next = validate_manifest(vec![
            draft("keep", "Keep", &[]),
            draft("edit", "Edit", &["rules:view"]),
            draft("new", "New", &[]),
        ])
        .unwrap();
        assert_eq!(
            ManifestChange::between(&current, &next),
            ManifestChange { created: vec!["new".into()], updated: vec!["edit".into()], deleted: vec!["gone".into()] }
        );
    }
}
