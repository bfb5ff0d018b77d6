//! Generation, hashing and checking of secrets.
//!
//! Every secret Custos issues (API client secrets, workspace and input
//! secrets, access tokens) is 256 bits from the OS's CSPRNG. A password hash
//! (Argon2 and the like) exists to slow the guessing of low-entropy human
//! passwords; for uniformly random 256-bit secrets SHA-256 is already
//! preimage-resistant, and it keeps authentication cheap on hot paths such as
//! event ingestion. Only the digest is stored; checks compare digests in
//! constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A public identifier, mParticle style: 32 lowercase hex characters.
pub fn new_key() -> String {
    hex::encode(random_bytes::<16>())
}

/// A secret: 256 random bits, URL-safe base64 (43 characters).
pub fn new_secret() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// The stored form of a secret: SHA-256, hex.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `secret` hashes to `stored_hash`, in time independent of where they differ.
pub fn verify_secret(secret: &str, stored_hash: &str) -> bool {
    hash_secret(secret).as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_verify_only_against_their_own_hash() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        let stored = hash_secret(&a);
        assert!(!stored.contains(&a));
        assert!(verify_secret(&a, &stored));
        assert!(!verify_secret(&b, &stored));
        assert!(!verify_secret("", &stored));
        assert_eq!(new_key().len(), 32);
    }
}
