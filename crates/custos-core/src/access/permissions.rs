//! What a role permits.

use std::collections::HashSet;

use super::tasks::{self, CORE_TASK};

/// The effective permissions of a role, built once and asked many times.
///
/// A task is allowed when the role names it, when the role holds the full
/// access (`x:*`) of the task's feature, or when it is `user:core`, which
/// every role holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    exact: HashSet<String>,
    full_features: HashSet<String>,
}

impl Permissions {
    pub fn from_tasks<I, S>(task_ids: I) -> Permissions
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut exact = HashSet::from([CORE_TASK.to_owned()]);
        let mut full_features = HashSet::new();
        for task_id in task_ids {
            let task_id = task_id.as_ref();
            if tasks::is_full_access(task_id) {
                full_features.insert(tasks::feature(task_id).to_owned());
            }
            exact.insert(task_id.to_owned());
        }
        Permissions { exact, full_features }
    }

    /// Whether the role may perform `task_id`.
    pub fn allows(&self, task_id: &str) -> bool {
        self.exact.contains(task_id) || self.full_features.contains(tasks::feature(task_id))
    }

    /// Every catalog task the role allows, in catalog order: what a console shows.
    pub fn effective_tasks(&self) -> Vec<&'static str> {
        tasks::CATALOG.iter().map(|task| task.id).filter(|id| self.allows(id)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_access_covers_every_task_of_its_feature_only() {
        let permissions = Permissions::from_tasks(["audiences:*", "rules:view"]);
        assert!(permissions.allows("audiences:view"));
        assert!(permissions.allows("audiences:edit"));
        assert!(permissions.allows("audiences:*"));
        assert!(permissions.allows("rules:view"));
        assert!(!permissions.allows("rules:*"));
        assert!(!permissions.allows("live_stream:view"));
    }

    #[test]
    fn user_core_always_holds() {
        let permissions = Permissions::from_tasks(Vec::<String>::new());
        assert!(permissions.allows("user:core"));
        assert_eq!(permissions.effective_tasks(), vec!["user:core"]);
    }

    #[test]
    fn a_narrow_task_does_not_imply_full_access() {
        let permissions = Permissions::from_tasks(["privacy:settings"]);
        assert!(!permissions.allows("privacy:*"));
        assert_eq!(permissions.effective_tasks(), vec!["user:core", "privacy:settings"]);
    }

    #[test]
    fn effective_tasks_expand_full_access() {
        let permissions = Permissions::from_tasks(["connections:*"]);
        assert_eq!(
            permissions.effective_tasks(),
            vec![
                "user:core",
                "connections:view",
                "connections:connect_integration",
                "connections:connect_audiences",
                "connections:configure_inputs",
                "connections:configure_outputs",
                "connections:*",
            ]
        );
    }
}
