//! Scopes of API credentials: the APIs a credential may call, like the
//! checkboxes on mParticle's API Credentials page.

use std::fmt;
use std::str::FromStr;

/// One API a credential may be allowed to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// The Custom Access Roles API: tasks, role manifests, user role assignments.
    CustomRoles,
    /// The Profile API.
    Profile,
    /// Data subject request administration.
    Dsr,
}

impl Scope {
    /// Every scope, in a stable order. The credential made by `custos init` has all of them.
    pub const ALL: [Scope; 3] = [Scope::CustomRoles, Scope::Profile, Scope::Dsr];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::CustomRoles => "custom_roles",
            Scope::Profile => "profile",
            Scope::Dsr => "dsr",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope `{0}`: expected one of custom_roles, profile, dsr")]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s).ok_or_else(|| UnknownScope(s.to_owned()))
    }
}

/// Parses a comma-separated scope list such as `custom_roles,profile`.
///
/// The list must name at least one scope; duplicates are folded.
pub fn parse_scope_list(list: &str) -> Result<Vec<Scope>, UnknownScope> {
    let mut scopes = list
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(Scope::from_str)
        .collect::<Result<Vec<_>, _>>()?;
    if scopes.is_empty() {
        return Err(UnknownScope(list.to_owned()));
    }
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_lists_parse_fold_duplicates_and_reject_unknown_names() {
        assert_eq!(
            parse_scope_list("profile, custom_roles,profile").unwrap(),
            vec![Scope::CustomRoles, Scope::Profile]
        );
        assert_eq!(parse_scope_list("custom_roles,events").unwrap_err(), UnknownScope("events".into()));
        assert!(parse_scope_list(" , ").is_err());
    }

    #[test]
    fn scope_names_round_trip() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>().unwrap(), scope);
        }
    }
}
