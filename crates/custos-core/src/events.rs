//! The rules of Events API batches: the event types, the environments, the
//! purposes consent is given for, and that a batch must reach a profile.
//!
//! Reading a batch's JSON is the server's business; it asks these rules of
//! what it reads. The identities a batch's `device_info` carries are named in
//! [`crate::identity::DEVICE_INFO_IDENTITIES`].

use crate::dsr::Regulation;
use crate::identity::{Identity, Mpid};

macro_rules! event_types {
    ($( $variant:ident => $name:literal, )*) => {
        /// The type of an event, as mParticle's JSON reference and schema list them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventType { $($variant),* }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$variant),*];

            /// The name in a batch's `event_type`.
            pub fn as_str(self) -> &'static str {
                match self { $(EventType::$variant => $name),* }
            }
        }
    };
}

event_types! {
    CustomEvent => "custom_event",
    CommerceEvent => "commerce_event",
    SessionStart => "session_start",
    SessionEnd => "session_end",
    ScreenView => "screen_view",
    Uninstall => "uninstall",
    CrashReport => "crash_report",
    OptOut => "opt_out",
    PushRegistration => "push_registration",
    ApplicationStateTransition => "application_state_transition",
    PushMessage => "push_message",
    NetworkPerformance => "network_performance",
    Breadcrumb => "breadcrumb",
    FirstRun => "first_run",
    PreAttribution => "pre_attribution",
    Profile => "profile",
    PushReaction => "push_reaction",
    UserAttributeChange => "user_attribute_change",
    UserIdentityChange => "user_identity_change",
    Media => "media",
    Unknown => "unknown",
}

impl EventType {
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.iter().copied().find(|kind| kind.as_str() == name)
    }

    /// Whether an event of this type must name itself (`data.event_name`).
    pub fn requires_name(self) -> bool {
        self == EventType::CustomEvent
    }

    /// Whether an event of this type carries the user's choice to opt out
    /// (`data.is_opted_out`, required): the profile takes the last one.
    pub fn carries_opt_out(self) -> bool {
        self == EventType::OptOut
    }
}

/// Where a batch comes from. `unknown` is accepted as SDKs send it, though
/// clients are told of the other two only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Environment {
    Production,
    Development,
    Unknown,
}

impl Environment {
    pub fn parse(name: &str) -> Option<Environment> {
        match name {
            "production" => Some(Environment::Production),
            "development" => Some(Environment::Development),
            "unknown" => Some(Environment::Unknown),
            _ => None,
        }
    }
}

/// The regulations a batch's consent state is given under, in the order they are read.
pub const CONSENT_REGULATIONS: [Regulation; 2] = [Regulation::Gdpr, Regulation::Ccpa];

/// CCPA's one consent purpose.
pub const CCPA_PURPOSE: &str = "data_sale_opt_out";

/// A purpose its regulation does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("CCPA consent has only the purpose {CCPA_PURPOSE}")]
pub struct UnknownPurpose;

/// A consent purpose as it is kept (lowercase), if its regulation has it:
/// GDPR purposes are each workspace's own; CCPA has [`CCPA_PURPOSE`] alone,
/// spelled exactly.
pub fn consent_purpose(regulation: Regulation, purpose: &str) -> Result<String, UnknownPurpose> {
    match regulation {
        Regulation::Ccpa if purpose != CCPA_PURPOSE => Err(UnknownPurpose),
        _ => Ok(purpose.to_lowercase()),
    }
}

/// A batch that names neither an MPID nor an identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("needs an mpid or at least one user or device identity to reach a profile")]
pub struct ReachesNoProfile;

/// A batch is stored on a profile: the one of its MPID, or one its
/// identities reach (or create).
pub fn check_reaches_profile(mpid: Option<Mpid>, identities: &[Identity]) -> Result<(), ReachesNoProfile> {
    match (mpid, identities) {
        (None, []) => Err(ReachesNoProfile),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::IdentityType;

    #[test]
    fn event_types_read_their_names_and_only_theirs() {
        for kind in EventType::ALL {
            assert_eq!(EventType::parse(kind.as_str()), Some(*kind));
        }
        assert_eq!(EventType::ALL.len(), 21);
        assert_eq!(EventType::parse("teleport"), None);
        assert_eq!(EventType::parse("Custom_Event"), None);
        assert!(EventType::CustomEvent.requires_name() && !EventType::ScreenView.requires_name());
        assert!(EventType::OptOut.carries_opt_out() && !EventType::CustomEvent.carries_opt_out());
    }

    #[test]
    fn ccpa_has_one_purpose_and_gdpr_purposes_are_kept_in_lowercase() {
        assert_eq!(consent_purpose(Regulation::Gdpr, "Marketing"), Ok("marketing".to_owned()));
        assert_eq!(consent_purpose(Regulation::Ccpa, "data_sale_opt_out"), Ok("data_sale_opt_out".to_owned()));
        assert_eq!(consent_purpose(Regulation::Ccpa, "Data_Sale_Opt_Out"), Err(UnknownPurpose));
        assert_eq!(consent_purpose(Regulation::Ccpa, "marketing"), Err(UnknownPurpose));
        assert_eq!(Environment::parse("staging"), None);
    }

    #[test]
    fn a_batch_reaches_a_profile_by_its_mpid_or_an_identity() {
        assert_eq!(check_reaches_profile(None, &[]), Err(ReachesNoProfile));
        assert_eq!(check_reaches_profile(Some(Mpid(0)), &[]), Ok(()));
        assert_eq!(check_reaches_profile(None, &[Identity::new(IdentityType::PushToken, "t")]), Ok(()));
    }
}
