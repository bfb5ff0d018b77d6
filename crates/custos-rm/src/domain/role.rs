//! Who may do what: the four roles of the Request Manager's people and API
//! tokens, and the named permissions each grants. Every `/rm/v1` route and
//! console page requires one permission, checked on the server.

/// A permission, named as the 403 says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// See requests, their audit trails, the report and the statistics.
    RequestsRead,
    /// File a request.
    RequestsCreate,
    /// Approve, deny, extend and deliver requests; download a package; see
    /// the mail kept for sending by hand (it holds subjects' links).
    RequestsManage,
    /// See connections.
    ConnectionsRead,
    /// Connect, re-check and disconnect platforms.
    ConnectionsManage,
    /// See the audit log.
    AuditRead,
    /// Invite, change and remove users; issue API tokens.
    UsersManage,
}

impl Permission {
    pub const ALL: [Permission; 7] = [
        Permission::RequestsRead,
        Permission::RequestsCreate,
        Permission::RequestsManage,
        Permission::ConnectionsRead,
        Permission::ConnectionsManage,
        Permission::AuditRead,
        Permission::UsersManage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::RequestsRead => "requests:read",
            Permission::RequestsCreate => "requests:create",
            Permission::RequestsManage => "requests:manage",
            Permission::ConnectionsRead => "connections:read",
            Permission::ConnectionsManage => "connections:manage",
            Permission::AuditRead => "audit:read",
            Permission::UsersManage => "users:manage",
        }
    }
}

/// A person's or a token's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything, including users and tokens.
    SuperAdmin,
    /// Integrations: connect, re-check, disconnect.
    ConnectionsManager,
    /// Requests: create, approve, deny, extend, deliver.
    RequestManager,
    /// Read only.
    Viewer,
}

const READ: [Permission; 3] = [Permission::RequestsRead, Permission::ConnectionsRead, Permission::AuditRead];

impl Role {
    pub const ALL: [Role; 4] = [Role::SuperAdmin, Role::ConnectionsManager, Role::RequestManager, Role::Viewer];

    /// The stored and wire form: `super_admin`, `connections_manager`, `request_manager`, `viewer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::SuperAdmin => "super_admin",
            Role::ConnectionsManager => "connections_manager",
            Role::RequestManager => "request_manager",
            Role::Viewer => "viewer",
        }
    }

    /// As people read it: "Super Admin".
    pub fn label(self) -> &'static str {
        match self {
            Role::SuperAdmin => "Super Admin",
            Role::ConnectionsManager => "Connections Manager",
            Role::RequestManager => "Request Manager",
            Role::Viewer => "Viewer",
        }
    }

    /// The stored form, or the label, in any case, with `-` or ` ` for `_`.
    pub fn parse(text: &str) -> Option<Role> {
        let wanted = text.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        Role::ALL.into_iter().find(|role| role.as_str() == wanted)
    }

    pub fn permissions(self) -> Vec<Permission> {
        let own: &[Permission] = match self {
            Role::SuperAdmin => &Permission::ALL,
            Role::ConnectionsManager => &[Permission::ConnectionsManage],
            Role::RequestManager => &[Permission::RequestsCreate, Permission::RequestsManage],
            Role::Viewer => &[],
        };
        Permission::ALL.into_iter().filter(|p| READ.contains(p) || own.contains(p)).collect()
    }

    pub fn allows(self, permission: Permission) -> bool {
        self.permissions().contains(&permission)
    }
}

/// Who did something, as the audit trail names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A person signed in to the console: their email.
    User(String),
    /// An API token: its name.
    Token(String),
    /// The `custos rm` command line, which works on the store directly.
    Cli,
    /// The data subject, through a link emailed to them.
    Subject,
    /// The Request Manager itself: its worker and timers.
    System,
}

impl Actor {
    /// The audit trail's `actor`: `None` is the system.
    pub fn audit_name(&self) -> Option<String> {
        match self {
            Actor::User(email) => Some(email.clone()),
            Actor::Token(name) => Some(format!("token {name}")),
            Actor::Cli => Some("cli".into()),
            Actor::Subject => Some("subject".into()),
            Actor::System => None,
        }
    }

    /// As the audit log shows it.
    pub fn display(&self) -> String {
        self.audit_name().unwrap_or_else(|| "system".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_grants_its_own_share_and_everyone_reads() {
        use Permission::*;
        let table = [
            (
                Role::SuperAdmin,
                vec![
                    RequestsRead,
                    RequestsCreate,
                    RequestsManage,
                    ConnectionsRead,
                    ConnectionsManage,
                    AuditRead,
                    UsersManage,
                ],
            ),
            (Role::ConnectionsManager, vec![RequestsRead, ConnectionsRead, ConnectionsManage, AuditRead]),
            (Role::RequestManager, vec![RequestsRead, RequestsCreate, RequestsManage, ConnectionsRead, AuditRead]),
            (Role::Viewer, vec![RequestsRead, ConnectionsRead, AuditRead]),
        ];
        for (role, granted) in table {
            assert_eq!(role.permissions(), granted, "{role:?}");
            for permission in Permission::ALL {
                assert_eq!(role.allows(permission), granted.contains(&permission), "{role:?} {permission:?}");
            }
        }
    }

    #[test]
    fn actors_are_named_for_the_audit_trail() {
        assert_eq!(Actor::User("ann@example.com".into()).audit_name().as_deref(), Some("ann@example.com"));
        assert_eq!(Actor::Token("ci".into()).audit_name().as_deref(), Some("token ci"));
        assert_eq!(Actor::Cli.display(), "cli");
        assert_eq!((Actor::System.audit_name(), Actor::System.display()), (None, "system".to_owned()));
    }

    #[test]
    fn roles_parse_from_their_names_and_labels() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert_eq!(Role::parse(role.label()), Some(role));
        }
        assert_eq!(Role::parse("Request-Manager"), Some(Role::RequestManager));
        assert_eq!(Role::parse("admin"), None);
        let names: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
        assert!(names.iter().all(|n| n.contains(':')), "{names:?}");
    }
}
