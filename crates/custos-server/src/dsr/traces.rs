//! Keyed hashes of a subject's identities: what Custos keeps of a subject
//! once a request has ended, and how suppressed subjects are recognised.
//!
//! HMAC-SHA256 under a key derived from the master key: without the key, a
//! hash cannot be tested against a guessed email address.

use custos_core::dsr::{RequestType, Subject, Trace};
use custos_core::identity::{Identity, Mpid};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::sealing::MasterKey;

#[derive(Clone)]
pub(crate) struct TraceKeys {
    key: [u8; 32],
}

impl TraceKeys {
    pub(crate) fn new(master_key: &MasterKey) -> TraceKeys {
        TraceKeys { key: master_key.derive("custos dsr subject traces v1") }
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length")
    }

    pub(crate) fn hash(&self, trace: Trace<'_>) -> String {
        let mut mac = self.mac();
        mac.update(trace.canonical().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The hashes of a subject's identities (or of its MPID).
    pub(crate) fn subject_keys(&self, subject: &Subject) -> Vec<String> {
        match subject {
            Subject::Mpid(mpid) => vec![self.hash(Trace::Mpid(*mpid))],
            Subject::Identities(identities) => identities.iter().map(|i| self.hash(Trace::Identity(i))).collect(),
        }
    }

    /// One hash for a request's type and its set of identities, whatever their order.
    pub(crate) fn overlap_key(&self, request_type: RequestType, subject: &Subject) -> String {
        let mut keys = self.subject_keys(subject);
        keys.sort();
        let mut mac = self.mac();
        mac.update(request_type.as_str().as_bytes());
        for key in keys {
            mac.update(b"\0");
            mac.update(key.as_bytes());
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// The keys a batch or an Identity API request is checked against.
    pub(crate) fn of(&self, identities: &[Identity], mpid: Option<Mpid>) -> Vec<String> {
        identities
            .iter()
            .map(|identity| self.hash(Trace::Identity(identity)))
            .chain(mpid.map(|mpid| self.hash(Trace::Mpid(mpid))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use custos_core::identity::IdentityType;

    use super::*;

    #[test]
    fn overlap_ignores_order_but_not_type_and_keys_depend_on_the_master_key() {
        let keys = TraceKeys::new(&MasterKey::generate());
        let a = Identity::new(IdentityType::Email, "a@example.com");
        let b = Identity::new(IdentityType::CustomerId, "c1");
        let ab = Subject::Identities(vec![a.clone(), b.clone()]);
        let ba = Subject::Identities(vec![b, a.clone()]);
        assert_eq!(keys.overlap_key(RequestType::Erasure, &ab), keys.overlap_key(RequestType::Erasure, &ba));
        assert_ne!(keys.overlap_key(RequestType::Erasure, &ab), keys.overlap_key(RequestType::Access, &ab));
        let other = TraceKeys::new(&MasterKey::generate());
        assert_ne!(keys.hash(Trace::Identity(&a)), other.hash(Trace::Identity(&a)));
        assert!(!keys.hash(Trace::Identity(&a)).contains("example"));
    }
}
