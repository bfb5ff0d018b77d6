//! The admin API token: 256 random bits, stored only as its SHA-256 digest,
//! checked in constant time.

use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A new token (64 hex characters) and the digest to store.
pub fn issue() -> (String, String) {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let digest = digest(&token);
    (token, digest)
}

/// The hex SHA-256 of a token, as stored.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `token` matches one of the stored digests. Every digest is
/// compared, in constant time, so timing tells nothing about which matched.
pub fn matches_any(token: &str, stored: &[String]) -> bool {
    let presented = Sha256::digest(token.as_bytes());
    let mut found = subtle::Choice::from(0);
    for digest in stored {
        if let Ok(bytes) = hex::decode(digest) {
            if bytes.len() == presented.len() {
                found |= bytes.ct_eq(presented.as_slice());
            }
        }
    }
    found.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_issued_token_matches_its_digest() {
        let (token, stored) = issue();
        assert_eq!(token.len(), 64);
        assert_ne!(token, stored);
        let (other, other_stored) = issue();
        assert!(matches_any(&token, &[other_stored.clone(), stored.clone()]));
        assert!(matches_any(&other, &[other_stored, stored.clone()]));
        assert!(!matches_any("guess", std::slice::from_ref(&stored)));
        assert!(!matches_any(&token, &[]));
    }
}
