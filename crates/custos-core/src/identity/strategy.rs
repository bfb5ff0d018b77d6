//! The profile conversion strategy.

use super::IdentityType;

/// An mParticle ID: the key of a profile, a signed 64-bit integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mpid(pub i64);

/// One identity of a request or a profile.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Identity {
    pub kind: IdentityType,
    pub value: String,
}

impl Identity {
    pub fn new(kind: IdentityType, value: impl Into<String>) -> Identity {
        Identity { kind, value: value.into() }
    }
}

/// The profile that holds an identity, as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub mpid: Mpid,
    /// The profile's login ID (customer ID), if it has one.
    pub login_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Identify,
    /// Like identify, but never creates or changes anything.
    Search,
    Login,
    Logout,
}

/// Where a request lands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// An existing profile. `attach` are the identities to give it, taken
    /// from whichever profile holds them now (identities are unique per
    /// workspace); `matched` are the request's identities it already held.
    Existing { mpid: Mpid, attach: Vec<Identity>, matched: Vec<Identity>, logged_in: bool },
    /// A new profile holding `attach`.
    Create { attach: Vec<Identity>, logged_in: bool },
    /// Search found nothing.
    NotFound,
}

/// Resolves an Identity API request.
///
/// - A profile with a login ID is reached only by a request naming that
///   login ID, or by a *user* identity (an email reaches a known profile;
///   a device identity never does).
/// - Identify and login add the request's identities to the profile they
///   reach, or create one; a login with a new login ID converts the current
///   anonymous profile (`previous`) instead of creating one.
/// - Logout always creates a new anonymous profile holding the request's
///   device identities.
///
/// `owner_of` answers who holds an identity now; `previous` is the profile of
/// the request's `previous_mpid`, when it exists.
pub fn resolve(
    kind: RequestKind,
    identities: &[Identity],
    owner_of: &dyn Fn(&Identity) -> Option<Owner>,
    previous: Option<&Owner>,
) -> Resolution {
    let login_id = identities.iter().find(|identity| identity.kind.is_login_id());
    match kind {
        RequestKind::Logout => Resolution::Create {
            attach: identities.iter().filter(|identity| identity.kind.is_device()).cloned().collect(),
            logged_in: false,
        },
        RequestKind::Search => match find_match(identities, owner_of) {
            Some(owner) => existing(owner, identities, owner_of, login_id.is_some(), false),
            None => Resolution::NotFound,
        },
        RequestKind::Identify => match find_match(identities, owner_of) {
            Some(owner) => existing(owner, identities, owner_of, login_id.is_some(), true),
            None => Resolution::Create { attach: identities.to_vec(), logged_in: login_id.is_some() },
        },
        RequestKind::Login => {
            let Some(login_id) = login_id else {
                return resolve(RequestKind::Identify, identities, owner_of, previous);
            };
            if let Some(owner) = owner_of(login_id) {
                return existing(owner, identities, owner_of, true, true);
            }
            // A new login ID: the current anonymous profile becomes known.
            let current = previous
                .filter(|previous| previous.login_id.is_none())
                .cloned()
                .or_else(|| find_match(identities, owner_of));
            match current {
                Some(owner) => existing(owner, identities, owner_of, true, true),
                None => Resolution::Create { attach: identities.to_vec(), logged_in: true },
            }
        }
    }
}

/// Resolves an event batch: to the batch's own MPID when that profile
/// exists, else as identify would. A batch only adds identities nobody holds:
/// ingestion never takes an identity from another profile.
pub fn resolve_batch(
    mpid: Option<Owner>,
    identities: &[Identity],
    owner_of: &dyn Fn(&Identity) -> Option<Owner>,
) -> Resolution {
    let target = mpid.or_else(|| find_match(identities, owner_of));
    let unowned = |identity: &&Identity| owner_of(identity).is_none();
    match target {
        Some(owner) => Resolution::Existing {
            mpid: owner.mpid,
            attach: identities
                .iter()
                .filter(unowned)
                // A known profile keeps its one login ID.
                .filter(|identity| !(identity.kind.is_login_id() && owner.login_id.is_some()))
                .cloned()
                .collect(),
            matched: identities.iter().filter(|i| owner_of(i).is_some_and(|o| o.mpid == owner.mpid)).cloned().collect(),
            logged_in: owner.login_id.is_some(),
        },
        None => Resolution::Create { attach: identities.to_vec(), logged_in: false },
    }
}

/// The profile the request reaches, walking its identities in priority order.
fn find_match(identities: &[Identity], owner_of: &dyn Fn(&Identity) -> Option<Owner>) -> Option<Owner> {
    let mut ordered: Vec<&Identity> = identities.iter().collect();
    ordered.sort_by_key(|identity| identity.kind);
    let request_login = identities.iter().find(|identity| identity.kind.is_login_id());
    ordered.into_iter().find_map(|identity| {
        let owner = owner_of(identity)?;
        let reachable = match (&owner.login_id, request_login) {
            (None, _) => true,
            // The request names a login ID: only its own profile is the same person.
            (Some(held), Some(asked)) => held == &asked.value,
            // No login ID in the request: a person's identifier reaches a known
            // profile; a device's does not.
            (Some(_), None) => !identity.kind.is_device(),
        };
        reachable.then_some(owner)
    })
}

fn existing(
    owner: Owner,
    identities: &[Identity],
    owner_of: &dyn Fn(&Identity) -> Option<Owner>,
    named_login_id: bool,
    attach: bool,
) -> Resolution {
    let held_by_target = |identity: &Identity| owner_of(identity).is_some_and(|o| o.mpid == owner.mpid);
    let matched: Vec<Identity> = identities.iter().filter(|i| held_by_target(i)).cloned().collect();
    let attach = if attach {
        identities
            .iter()
            .filter(|identity| !held_by_target(identity))
            // Never take a login ID from the profile it identifies.
            .filter(|identity| !(identity.kind.is_login_id() && owner_of(identity).is_some()))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    let logged_in = named_login_id || (owner.login_id.is_some() && matched.iter().any(|i| i.kind.is_login_id()));
    Resolution::Existing { mpid: owner.mpid, attach, matched, logged_in }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::identity::IdentityType::*;

    /// A tiny in-memory world: who holds what, and each profile's login ID.
    struct World(HashMap<(IdentityType, String), i64>);

    impl World {
        fn new(holdings: &[(IdentityType, &str, i64)]) -> World {
            World(holdings.iter().map(|(k, v, m)| ((*k, (*v).to_owned()), *m)).collect())
        }

        fn owner(&self, identity: &Identity) -> Option<Owner> {
            let mpid = *self.0.get(&(identity.kind, identity.value.clone()))?;
            let login_id =
                self.0.iter().find(|((k, _), m)| *k == CustomerId && **m == mpid).map(|((_, v), _)| v.clone());
            Some(Owner { mpid: Mpid(mpid), login_id })
        }

        fn resolve(&self, kind: RequestKind, identities: &[(IdentityType, &str)], previous: Option<i64>) -> Resolution {
            let identities: Vec<Identity> = identities.iter().map(|(k, v)| Identity::new(*k, *v)).collect();
            let previous = previous.map(|m| Owner {
                mpid: Mpid(m),
                login_id: self.0.iter().find(|((k, _), o)| *k == CustomerId && **o == m).map(|((_, v), _)| v.clone()),
            });
            resolve(kind, &identities, &|i| self.owner(i), previous.as_ref())
        }
    }

    fn target(resolution: &Resolution) -> Option<i64> {
        match resolution {
            Resolution::Existing { mpid, .. } => Some(mpid.0),
            _ => None,
        }
    }

    #[test]
    fn identify_finds_by_priority_and_creates_when_nothing_matches() {
        let world = World::new(&[(Email, "a@x.com", 1), (IosIdfa, "idfa-2", 2)]);
        assert_eq!(
            target(&world.resolve(RequestKind::Identify, &[(IosIdfa, "idfa-2"), (Email, "a@x.com")], None)),
            Some(1)
        );
        assert!(matches!(
            world.resolve(RequestKind::Identify, &[(Email, "new@x.com")], None),
            Resolution::Create { logged_in: false, .. }
        ));
    }

    #[test]
    fn device_identities_never_reach_a_known_profile_but_user_identities_do() {
        let world = World::new(&[(CustomerId, "c1", 1), (Email, "a@x.com", 1), (IosIdfa, "idfa", 1)]);
        assert!(matches!(world.resolve(RequestKind::Identify, &[(IosIdfa, "idfa")], None), Resolution::Create { .. }));
        assert!(matches!(world.resolve(RequestKind::Search, &[(IosIdfa, "idfa")], None), Resolution::NotFound));
        let by_email = world.resolve(RequestKind::Search, &[(Email, "a@x.com")], None);
        assert_eq!(target(&by_email), Some(1));
        assert!(matches!(by_email, Resolution::Existing { logged_in: false, ref attach, .. } if attach.is_empty()));
    }

    #[test]
    fn a_request_naming_another_login_id_does_not_reach_a_known_profile() {
        let world = World::new(&[(CustomerId, "c1", 1), (Email, "shared@x.com", 1)]);
        let resolution = world.resolve(RequestKind::Identify, &[(CustomerId, "c2"), (Email, "shared@x.com")], None);
        assert!(matches!(resolution, Resolution::Create { logged_in: true, .. }));
    }

    #[test]
    fn login_with_a_new_login_id_keeps_the_current_mpid() {
        let world = World::new(&[(DeviceApplicationStamp, "das", 7)]);
        let resolution =
            world.resolve(RequestKind::Login, &[(CustomerId, "c9"), (DeviceApplicationStamp, "das")], Some(7));
        assert_eq!(
            resolution,
            Resolution::Existing {
                mpid: Mpid(7),
                attach: vec![Identity::new(CustomerId, "c9")],
                matched: vec![Identity::new(DeviceApplicationStamp, "das")],
                logged_in: true,
            }
        );
    }

    #[test]
    fn login_with_a_known_login_id_returns_that_profile_and_brings_the_device() {
        let world = World::new(&[(CustomerId, "c1", 1), (DeviceApplicationStamp, "new-device", 5)]);
        let resolution =
            world.resolve(RequestKind::Login, &[(CustomerId, "c1"), (DeviceApplicationStamp, "new-device")], Some(5));
        assert_eq!(target(&resolution), Some(1));
        assert!(matches!(resolution, Resolution::Existing { logged_in: true, ref attach, .. }
            if attach == &vec![Identity::new(DeviceApplicationStamp, "new-device")]));
    }

    #[test]
    fn login_from_another_known_profile_with_a_new_login_id_creates_a_profile() {
        let world = World::new(&[(CustomerId, "c1", 1), (DeviceApplicationStamp, "das", 1)]);
        let resolution =
            world.resolve(RequestKind::Login, &[(CustomerId, "c2"), (DeviceApplicationStamp, "das")], Some(1));
        assert!(matches!(resolution, Resolution::Create { logged_in: true, .. }));
    }

    #[test]
    fn logout_always_creates_an_anonymous_profile_with_only_device_identities() {
        let world = World::new(&[(CustomerId, "c1", 1), (DeviceApplicationStamp, "das", 1)]);
        let resolution =
            world.resolve(RequestKind::Logout, &[(DeviceApplicationStamp, "das"), (Email, "e@x.com")], Some(1));
        assert_eq!(
            resolution,
            Resolution::Create { attach: vec![Identity::new(DeviceApplicationStamp, "das")], logged_in: false }
        );
    }

    #[test]
    fn batches_take_only_unheld_identities() {
        let world = World::new(&[(CustomerId, "c1", 1), (Email, "b@x.com", 2)]);
        let identities =
            vec![Identity::new(CustomerId, "c1"), Identity::new(Email, "b@x.com"), Identity::new(Other, "o")];
        let resolution = resolve_batch(None, &identities, &|i| world.owner(i));
        assert_eq!(target(&resolution), Some(1));
        assert!(
            matches!(resolution, Resolution::Existing { ref attach, .. } if attach == &vec![Identity::new(Other, "o")])
        );
        let own = resolve_batch(Some(Owner { mpid: Mpid(2), login_id: None }), &identities, &|i| world.owner(i));
        assert_eq!(target(&own), Some(2));
    }
}
