//! Typed identifiers of the tenant hierarchy: organization → account → workspace.
//!
//! mParticle exposes all three as integers in its URLs, so they are integers
//! here too; the newtypes keep one from being passed where another is meant.

use std::fmt;

macro_rules! int_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

int_id!(
    /// An organization: the tenant. Roles, users and API credentials belong to it.
    OrgId
);
int_id!(
    /// An account inside an organization.
    AccountId
);
int_id!(
    /// A workspace inside an account: the container of data (inputs, profiles, events).
    WorkspaceId
);
