//! The catalog of tasks: the units of access that roles are built from.
//!
//! The list is mParticle's permissions reference. A task ending in `:*` is the
//! full access of its feature and covers every other task of that feature.

/// One assignable task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Task {
    pub id: &'static str,
    pub display_name: &'static str,
    pub description: &'static str,
}

/// The task every role holds: logging in and viewing the dashboard.
pub const CORE_TASK: &str = "user:core";

const fn task(id: &'static str, display_name: &'static str, description: &'static str) -> Task {
    Task { id, display_name, description }
}

/// Every task a role may name, grouped by feature in the reference's order.
pub const CATALOG: &[Task] = &[
    task(CORE_TASK, "Log in and view dashboard", "Log in to mParticle and view the main dashboard; included in every role"),
    task("user_activity:view", "User Activity View: view only", "Search for any user and view their associated user details, workspace usage, device info, attributes, and audience membership"),
    task("user_groups:view", "Group Identities: view only", "View the Group Identities page"),
    task("user_groups:*", "Group Identities: full access", "Edit and delete group identities"),
    task("catalog:*", "Data Master Catalog: full access", "View the Data Master Catalog and annotate data points"),
    task("data_plans:view", "Data Plans: view only", "View existing data plans"),
    task("data_plans:*", "Data Plans: full access", "View, create, edit, activate, and delete data plans"),
    task("live_stream:view", "Live Stream: view only", "View Live Stream and examine individual events"),
    task("calculated_attributes:view", "Calculated Attributes: view only", "View calculated attributes"),
    task("calculated_attributes:draft", "Calculated Attributes: draft only", "View, create, and delete calculated attributes in Draft mode"),
    task("calculated_attributes:*", "Calculated Attributes: full access", "View, create, and delete calculated attributes"),
    task("rules:view", "Rules: view only", "View all rules"),
    task("rules:*", "Rules: full access", "View, create, edit, and delete rules"),
    task("audiences:view", "Audiences: view only", "View all audiences, the audience estimator, and journeys"),
    task("audiences:edit", "Audiences: edit", "View, create, modify, activate, and delete audiences and journeys"),
    task("audiences:*", "Audiences: full access", "View, create, modify, activate and delete audiences and journeys; and download audiences"),
    task("connections:view", "Connections: view only", "View connections"),
    task("connections:connect_integration", "Connections: connect integration", "Create a connection between an input and an output with view to setup details and credentials available"),
    task("connections:connect_audiences", "Connections: connect audience", "Create a connection between an audience and an output without view to setup details and credentials hidden"),
    task("connections:configure_inputs", "Connections: configure input", "Configure an input"),
    task("connections:configure_outputs", "Connections: configure output", "Configure an output"),
    task("connections:*", "Connections: full access", "Create, delete, and activate/deactivate connections between inputs and outputs"),
    task("data_filter:view", "Filters: view only", "View current data filters"),
    task("data_filter:*", "Filters: full access", "View and create filters"),
    task("privacy:settings", "Data Subject Requests & Privacy: view only", "View enabled privacy settings"),
    task("privacy:*", "Data Subject Requests & Privacy: full access", "View and modify privacy settings"),
    task("workspaces:*", "Workspaces: full access", "View, create, and delete workspaces"),
    task("user_management:view", "User Management: view only", "View users with access to your account"),
    task("user_management:*", "User Management: full access", "View, create, delete, and assign roles to users in your account"),
    task("identity_settings:*", "Identity Strategy Settings: full access", "View and modify your identity settings"),
    task("api_credentials:*", "API Credentials: full access", "View, create, delete, and assign your API credentials"),
    task("tieredevents:*", "Tiered Events: full access", "View and manage tiered events"),
];

/// Looks a task up by its id.
pub fn find(task_id: &str) -> Option<&'static Task> {
    CATALOG.iter().find(|task| task.id == task_id)
}

/// The feature a task belongs to: `audiences` for `audiences:view`.
pub fn feature(task_id: &str) -> &str {
    task_id.split_once(':').map_or(task_id, |(feature, _)| feature)
}

/// Whether a task is the full access (`x:*`) of its feature.
pub fn is_full_access(task_id: &str) -> bool {
    task_id.ends_with(":*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_ids_are_unique_and_well_formed() {
        let mut ids: Vec<_> = CATALOG.iter().map(|task| task.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CATALOG.len());
        for task in CATALOG {
            assert!(task.id.contains(':'), "{} has no feature prefix", task.id);
            assert!(!task.display_name.is_empty() && !task.description.is_empty());
        }
    }

    #[test]
    fn catalog_holds_the_core_task_and_tiered_events() {
        assert!(find(CORE_TASK).is_some());
        assert!(find("tieredevents:*").is_some());
        assert!(find("audiences:delete").is_none());
    }
}
