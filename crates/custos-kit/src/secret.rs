//! Random secrets and tokens, their stored digests, and constant-time checks.
//!
//! Every secret the services issue (API secrets, admin tokens, session
//! cookies, one-time links) is 256 bits from the OS's CSPRNG. A slow password
//! hash exists to make guessing low-entropy human passwords expensive; for
//! uniformly random 256-bit secrets SHA-256 is already preimage-resistant, and
//! it keeps checks cheap. Only the digest is stored (hex), so a copy of the
//! database grants nothing; checks compare digests in constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A secret just issued: the text handed out once, and the digest to store.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedSecret {
    pub secret: String,
    pub digest: String,
}

impl std::fmt::Debug for IssuedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedSecret").field("secret", &"(hidden)").field("digest", &self.digest).finish()
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A public identifier, mParticle style: 128 random bits as 32 lowercase hex characters.
pub fn new_key() -> String {
    hex::encode(random_bytes::<16>())
}

/// A secret: 256 random bits, URL-safe base64 without padding (43 characters).
pub fn new_secret() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// A new secret with the digest to store.
pub fn issue() -> IssuedSecret {
    let secret = new_secret();
    let digest = digest(&secret);
    IssuedSecret { secret, digest }
}

/// The stored form of a secret: SHA-256 of its text, 64 lowercase hex characters.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `secret` has the digest `stored`, in time independent of where they differ.
pub fn verify(secret: &str, stored: &str) -> bool {
    constant_time_eq(&digest(secret), stored)
}

/// Whether `secret` has one of the stored digests. Every digest is compared,
/// in constant time, so timing tells nothing about which one matched.
pub fn matches_any(secret: &str, stored: &[String]) -> bool {
    let presented = digest(secret);
    let mut found = subtle::Choice::from(0);
    for candidate in stored {
        found |= presented.as_bytes().ct_eq(candidate.as_bytes());
    }
    found.into()
}

/// Whether two strings are equal, in time that depends on their lengths only.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_256_random_bits_in_url_safe_base64() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{a}");
        assert_eq!(new_key().len(), 32);
    }

    #[test]
    fn a_digest_is_the_hex_sha256_of_the_text() {
        assert_eq!(digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let issued = issue();
        assert_eq!(issued.digest, digest(&issued.secret));
        assert!(!issued.digest.contains(&issued.secret));
        assert!(!format!("{issued:?}").contains(&issued.secret), "Debug hides the secret");
    }

    #[test]
    fn a_secret_verifies_only_against_its_own_digest() {
        let (a, b) = (issue(), issue());
        assert!(verify(&a.secret, &a.digest));
        assert!(!verify(&b.secret, &a.digest));
        assert!(!verify("", &a.digest));
        assert!(matches_any(&a.secret, &[b.digest.clone(), a.digest.clone()]));
        assert!(!matches_any("guess", std::slice::from_ref(&a.digest)));
        assert!(!matches_any(&a.secret, &[]));
    }

    #[test]
    fn constant_time_equality_is_equality() {
        assert!(constant_time_eq("same", "same"));
        assert!(!constant_time_eq("same", "sane"));
        assert!(!constant_time_eq("same", "same "));
        assert!(constant_time_eq("", ""));
    }
}
