//! mParticle's standard roles, assignable to users without uploading anything.
//!
//! They are the seven templates of the Custom Access Roles documentation;
//! the same templates ship as JSON beside this file (`standard_roles/`), in the
//! form a client uploads them to copy and adapt a standard role.

use super::Permissions;

/// A built-in role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandardRole {
    pub role_id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    /// The tasks as the template lists them; `user:core` is implied.
    pub tasks: &'static [&'static str],
}

impl StandardRole {
    pub fn permissions(&self) -> Permissions {
        Permissions::from_tasks(self.tasks)
    }
}

pub const STANDARD_ROLES: &[StandardRole] = &[
    StandardRole {
        role_id: "user-role",
        name: "User",
        description: "Provides common permissions needed for general users",
        tasks: &[
            "audiences:*",
            "calculated_attributes:*",
            "connections:configure_inputs",
            "connections:configure_outputs",
            "connections:connect_integration",
            "data_filter:*",
            "data_plans:*",
            "live_stream:view",
            "rules:*",
            "workspaces:*",
        ],
    },
    StandardRole {
        role_id: "admin-role",
        name: "Admin",
        description: "Provides necessary permissions for admin users",
        tasks: &[
            "api_credentials:*",
            "audiences:*",
            "calculated_attributes:*",
            "catalog:*",
            "connections:configure_inputs",
            "connections:configure_outputs",
            "connections:connect_integration",
            "data_filter:*",
            "data_plans:*",
            "identity_settings:*",
            "live_stream:view",
            "rules:*",
            "user_activity:view",
            "user_management:*",
            "workspaces:*",
        ],
    },
    StandardRole {
        role_id: "compliance-role",
        name: "Compliance",
        description: "Provides necessary permissions for compliance users",
        tasks: &[
            "audiences:view",
            "connections:connect_integration",
            "data_filter:view",
            "data_plans:view",
            "identity_settings:*",
            "live_stream:view",
            "privacy:*",
            "rules:view",
            "user_management:view",
            "workspaces:*",
        ],
    },
    StandardRole {
        role_id: "admin-compliance-role",
        name: "Admin & Compliance",
        description: "Provides necessary permissions for admin and compliance users",
        tasks: &[
            "api_credentials:*",
            "audiences:*",
            "calculated_attributes:*",
            "catalog:*",
            "connections:configure_inputs",
            "connections:configure_outputs",
            "connections:connect_integration",
            "data_filter:*",
            "data_plans:*",
            "identity_settings:*",
            "live_stream:view",
            "privacy:*",
            "rules:*",
            "tieredevents:*",
            "user_activity:view",
            "user_management:*",
            "workspaces:*",
        ],
    },
    StandardRole {
        role_id: "audiences-only-role",
        name: "Audiences Only",
        description: "Provides Audiences-only access",
        tasks: &["audiences:*"],
    },
    StandardRole {
        role_id: "read-only-role",
        name: "Read Only",
        description: "Provides read only access to mParticle features",
        tasks: &[
            "audiences:view",
            "calculated_attributes:view",
            "data_filter:view",
            "data_plans:view",
            "identity_settings:*",
            "live_stream:view",
            "rules:view",
            "workspaces:*",
        ],
    },
    StandardRole {
        role_id: "support-role",
        name: "Support",
        description: "Provides necessary access for technical support",
        tasks: &[
            "api_credentials:*",
            "audiences:*",
            "calculated_attributes:*",
            "catalog:*",
            "connections:configure_inputs",
            "connections:configure_outputs",
            "connections:connect_integration",
            "data_filter:*",
            "data_plans:*",
            "identity_settings:*",
            "live_stream:view",
            "privacy:settings",
            "rules:*",
            "user_activity:view",
            "workspaces:*",
        ],
    },
];

/// Looks a standard role up by its id.
pub fn find(role_id: &str) -> Option<&'static StandardRole> {
    STANDARD_ROLES.iter().find(|role| role.role_id == role_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::tasks;

    /// The table above and the shipped JSON templates must not drift apart.
    #[test]
    fn standard_roles_match_the_shipped_templates() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/access/standard_roles");
        for role in STANDARD_ROLES {
            let text = std::fs::read_to_string(format!("{dir}/{}.json", role.role_id)).unwrap();
            let template: serde_json::Value = serde_json::from_str(&text).unwrap();
            let template = &template["roles"][0];
            assert_eq!(template["role_id"], role.role_id);
            assert_eq!(template["name"], role.name);
            assert_eq!(template["description"], role.description);
            let task_ids: Vec<&str> =
                template["tasks"].as_array().unwrap().iter().map(|t| t["task_id"].as_str().unwrap()).collect();
            assert_eq!(task_ids, role.tasks);
        }
        assert_eq!(std::fs::read_dir(dir).unwrap().count(), STANDARD_ROLES.len());
    }

    #[test]
    fn standard_roles_name_only_catalog_tasks() {
        for role in STANDARD_ROLES {
            for task_id in role.tasks {
                assert!(tasks::find(task_id).is_some(), "{} names unknown task {task_id}", role.role_id);
            }
        }
    }

    #[test]
    fn compliance_may_run_privacy_requests_and_support_may_only_view_privacy_settings() {
        assert!(find("compliance-role").unwrap().permissions().allows("privacy:*"));
        let support = find("support-role").unwrap().permissions();
        assert!(support.allows("privacy:settings"));
        assert!(!support.allows("privacy:*"));
    }
}
