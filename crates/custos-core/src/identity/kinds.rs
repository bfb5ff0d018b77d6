//! The identity types, and their names in each of mParticle's APIs.

use std::fmt;

macro_rules! identity_types {
    ($( $variant:ident => $canonical:literal, identity_api: $identity_api:literal, aliases: [$($alias:literal),*], device: $device:literal; )*) => {
        /// An identifier of a user (customer ID, email…) or of a device (IDFA, device application stamp…).
        ///
        /// Variants are listed in mParticle's default identity priority: when
        /// several identities of a request match, the first in this order wins.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum IdentityType { $($variant),* }

        impl IdentityType {
            pub const ALL: &'static [IdentityType] = &[$(IdentityType::$variant),*];

            /// The name used by the Events and Profile APIs, and in storage.
            pub fn as_str(self) -> &'static str {
                match self { $(IdentityType::$variant => $canonical),* }
            }

            /// The name used by the Identity API (`customerid`, `android_aaid`…).
            pub fn identity_api_name(self) -> &'static str {
                match self { $(IdentityType::$variant => $identity_api),* }
            }

            /// Whether this identifies a device rather than a person.
            pub fn is_device(self) -> bool {
                match self { $(IdentityType::$variant => $device),* }
            }

            /// Other names real clients use (DSR and Profile API spellings).
            fn aliases(self) -> &'static [&'static str] {
                match self { $(IdentityType::$variant => &[$($alias),*]),* }
            }
        }
    };
}

identity_types! {
    CustomerId => "customer_id", identity_api: "customerid", aliases: [], device: false;
    MobileNumber => "mobile_number", identity_api: "mobile_number", aliases: [], device: false;
    PhoneNumber2 => "phone_number_2", identity_api: "phone_number_2", aliases: [], device: false;
    PhoneNumber3 => "phone_number_3", identity_api: "phone_number_3", aliases: [], device: false;
    Email => "email", identity_api: "email", aliases: [], device: false;
    Other => "other", identity_api: "other", aliases: [], device: false;
    Other2 => "other_id_2", identity_api: "other2", aliases: [], device: false;
    Other3 => "other_id_3", identity_api: "other3", aliases: [], device: false;
    Other4 => "other_id_4", identity_api: "other4", aliases: [], device: false;
    Other5 => "other_id_5", identity_api: "other5", aliases: [], device: false;
    Other6 => "other_id_6", identity_api: "other6", aliases: [], device: false;
    Other7 => "other_id_7", identity_api: "other7", aliases: [], device: false;
    Other8 => "other_id_8", identity_api: "other8", aliases: [], device: false;
    Other9 => "other_id_9", identity_api: "other9", aliases: [], device: false;
    Other10 => "other_id_10", identity_api: "other10", aliases: [], device: false;
    Facebook => "facebook", identity_api: "facebook", aliases: [], device: false;
    FacebookCustomAudienceId => "facebook_custom_audience_id", identity_api: "facebookcustomaudienceid", aliases: [], device: false;
    Google => "google", identity_api: "google", aliases: [], device: false;
    Twitter => "twitter", identity_api: "twitter", aliases: [], device: false;
    Microsoft => "microsoft", identity_api: "microsoft", aliases: [], device: false;
    Yahoo => "yahoo", identity_api: "yahoo", aliases: [], device: false;
    Alias => "alias", identity_api: "alias", aliases: [], device: false;
    IosIdfa => "ios_idfa", identity_api: "ios_idfa", aliases: ["ios_advertising_id"], device: true;
    IosIdfv => "ios_idfv", identity_api: "ios_idfv", aliases: ["ios_vendor_id"], device: true;
    AndroidAaid => "android_aaid", identity_api: "android_aaid", aliases: ["android_advertising_id", "google_advertising_id"], device: true;
    AndroidUuid => "android_uuid", identity_api: "android_uuid", aliases: ["android_id"], device: true;
    FireAid => "fire_aid", identity_api: "fire_aid", aliases: ["fire_advertising_id"], device: true;
    RokuAid => "roku_aid", identity_api: "roku_aid", aliases: ["roku_advertising_id"], device: true;
    RokuPublisherId => "roku_publisher_id", identity_api: "roku_publisher_id", aliases: [], device: true;
    MicrosoftPublisherId => "microsoft_publisher_id", identity_api: "microsoft_publisher_id", aliases: [], device: true;
    MicrosoftAid => "microsoft_aid", identity_api: "microsoft_aid", aliases: ["microsoft_advertising_id"], device: true;
    AmpId => "amp_id", identity_api: "amp_id", aliases: [], device: true;
    PushToken => "push_token", identity_api: "push_token", aliases: [], device: true;
    DeviceApplicationStamp => "device_application_stamp", identity_api: "device_application_stamp", aliases: ["mp_deviceid"], device: true;
}

impl IdentityType {
    /// Reads any of the names the APIs and real SDKs use for a type.
    pub fn parse(name: &str) -> Result<IdentityType, UnknownIdentityType> {
        IdentityType::ALL
            .iter()
            .copied()
            .find(|kind| kind.as_str() == name || kind.identity_api_name() == name || kind.aliases().contains(&name))
            .ok_or_else(|| UnknownIdentityType(name.to_owned()))
    }

    /// Whether this is the login ID: a profile holding one is reached only by a request that names it.
    pub fn is_login_id(self) -> bool {
        self == IdentityType::CustomerId
    }
}

impl fmt::Display for IdentityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A device identity an Events API batch carries in `device_info`, under its key there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceInfoIdentity {
    pub key: &'static str,
    pub kind: IdentityType,
}

/// The keys of a batch's `device_info` that carry device identities, in
/// the order they are read.
pub const DEVICE_INFO_IDENTITIES: &[DeviceInfoIdentity] = &[
    DeviceInfoIdentity { key: "ios_advertising_id", kind: IdentityType::IosIdfa },
    DeviceInfoIdentity { key: "ios_idfv", kind: IdentityType::IosIdfv },
    DeviceInfoIdentity { key: "android_advertising_id", kind: IdentityType::AndroidAaid },
    DeviceInfoIdentity { key: "android_uuid", kind: IdentityType::AndroidUuid },
    DeviceInfoIdentity { key: "fire_advertising_id", kind: IdentityType::FireAid },
    DeviceInfoIdentity { key: "roku_advertising_id", kind: IdentityType::RokuAid },
    DeviceInfoIdentity { key: "roku_publisher_id", kind: IdentityType::RokuPublisherId },
    DeviceInfoIdentity { key: "microsoft_advertising_id", kind: IdentityType::MicrosoftAid },
    DeviceInfoIdentity { key: "microsoft_publisher_id", kind: IdentityType::MicrosoftPublisherId },
    DeviceInfoIdentity { key: "amp_id", kind: IdentityType::AmpId },
    DeviceInfoIdentity { key: "push_token", kind: IdentityType::PushToken },
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown identity type `{0}`")]
pub struct UnknownIdentityType(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_api_spelling_of_customer_id_is_understood() {
        for name in ["customer_id", "customerid"] {
            assert_eq!(IdentityType::parse(name).unwrap(), IdentityType::CustomerId);
        }
        assert_eq!(IdentityType::parse("other2").unwrap(), IdentityType::Other2);
        assert_eq!(IdentityType::parse("other_id_2").unwrap(), IdentityType::Other2);
        assert_eq!(IdentityType::parse("ios_advertising_id").unwrap(), IdentityType::IosIdfa);
        assert!(IdentityType::parse("shoe_size").is_err());
    }

    #[test]
    fn names_round_trip_and_priority_starts_with_the_login_id() {
        for kind in IdentityType::ALL {
            assert_eq!(IdentityType::parse(kind.as_str()).unwrap(), *kind);
            assert_eq!(IdentityType::parse(kind.identity_api_name()).unwrap(), *kind);
        }
        assert!(IdentityType::CustomerId < IdentityType::Email);
        assert!(IdentityType::Email < IdentityType::IosIdfa);
        assert!(IdentityType::IosIdfa.is_device() && !IdentityType::Email.is_device());
    }

    #[test]
    fn device_info_keys_are_names_of_device_identities() {
        for DeviceInfoIdentity { key, kind } in DEVICE_INFO_IDENTITIES {
            assert_eq!(IdentityType::parse(key).unwrap(), *kind);
            assert!(kind.is_device(), "{key}");
        }
    }
}
