//! Human passwords: the rule a new one must meet, Argon2id hashing, and
//! verification that takes the same time whether or not the account exists.
//!
//! Hashes are PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$…`) with OWASP's
//! recommended cost; the parameters travel in the string, so raising them
//! later keeps old hashes verifiable. Argon2 is deliberately slow (tens of
//! milliseconds): callers on an async runtime run it on a blocking thread.

use std::sync::LazyLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// The fewest characters a password may have.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The most characters a password may have; longer input is refused rather than hashed.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// Why a new password was refused, naming the form field and the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NewPasswordError {
    #[error("password: must be at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("password: must be at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
    #[error("confirm_password: must match the password")]
    Mismatch,
}

impl NewPasswordError {
    /// The form field at fault: `password` or `confirm_password`.
    pub fn field(self) -> &'static str {
        match self {
            NewPasswordError::TooShort | NewPasswordError::TooLong => "password",
            NewPasswordError::Mismatch => "confirm_password",
        }
    }

    /// What to tell the person, beside that field.
    pub fn message(self) -> String {
        match self {
            NewPasswordError::TooShort => format!("Use at least {MIN_PASSWORD_CHARS} characters"),
            NewPasswordError::TooLong => format!("Use at most {MAX_PASSWORD_CHARS} characters"),
            NewPasswordError::Mismatch => "The passwords do not match".to_owned(),
        }
    }
}

/// Whether `password`, typed twice, may become a password. Characters are
/// counted as Unicode scalar values, so "12 characters" means what it says
/// for any script.
pub fn check_new_password(password: &str, confirmation: &str) -> Result<(), NewPasswordError> {
    let length = password.chars().count();
    if length < MIN_PASSWORD_CHARS {
        return Err(NewPasswordError::TooShort);
    }
    if length > MAX_PASSWORD_CHARS {
        return Err(NewPasswordError::TooLong);
    }
    if password != confirmation {
        return Err(NewPasswordError::Mismatch);
    }
    Ok(())
}

/// Hashing failed: only possible for a broken random source or parameters.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

fn argon2id() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// The Argon2id hash of `password`, with a fresh random salt, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2id()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| HashError(error.to_string()))
}

/// Whether `password` matches the stored hash. The final comparison is in
/// constant time (the `password-hash` crate compares outputs with `subtle`);
/// a stored value that is not a PHC string matches nothing.
pub fn verify_password(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => argon2id().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password, computed once with the same parameters.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hash_password(&crate::secret::new_secret()).expect("hashing a random password with the default parameters")
});

/// Computes the dummy hash now (tens of milliseconds), so that the first
/// sign-in with an unknown email takes no longer than the others.
pub fn prepare_dummy_hash() {
    LazyLock::force(&DUMMY_HASH);
}

/// Verifies against `stored`, or, when there is none (unknown email, no
/// password set yet), against a dummy hash, so that both take as long and
/// the time of the answer does not tell whether the account exists.
pub fn verify_password_or_dummy(password: &str, stored: Option<&str>) -> bool {
    match stored {
        Some(stored) => verify_password(password, stored),
        None => {
            verify_password(password, &DUMMY_HASH);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_password_needs_twelve_characters_typed_twice_alike() {
        assert_eq!(check_new_password("eleven-char", "eleven-char"), Err(NewPasswordError::TooShort));
        assert_eq!(check_new_password("", ""), Err(NewPasswordError::TooShort));
        assert_eq!(check_new_password("twelve-chars", "twelve-chars"), Ok(()));
        assert_eq!(check_new_password("twelve-chars", "twelve-charz"), Err(NewPasswordError::Mismatch));
        // Characters, not bytes: twelve two-byte letters are enough, eleven are not.
        assert_eq!(check_new_password(&"é".repeat(12), &"é".repeat(12)), Ok(()));
        assert_eq!(check_new_password(&"é".repeat(11), &"é".repeat(11)), Err(NewPasswordError::TooShort));
        let long = "x".repeat(MAX_PASSWORD_CHARS + 1);
        assert_eq!(check_new_password(&long, &long), Err(NewPasswordError::TooLong));
    }

    #[test]
    fn errors_name_the_field_and_the_rule() {
        assert_eq!(NewPasswordError::TooShort.field(), "password");
        assert_eq!(NewPasswordError::TooShort.to_string(), "password: must be at least 12 characters");
        assert_eq!(NewPasswordError::TooShort.message(), "Use at least 12 characters");
        assert_eq!(NewPasswordError::Mismatch.field(), "confirm_password");
        assert_eq!(NewPasswordError::Mismatch.message(), "The passwords do not match");
    }

    #[test]
    fn hashes_are_salted_argon2id_and_verify_only_their_password() {
        let first = hash_password("correct horse battery").unwrap();
        let second = hash_password("correct horse battery").unwrap();
        assert!(first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{first}");
        assert_ne!(first, second, "each hash has its own salt");
        assert!(verify_password("correct horse battery", &first));
        assert!(verify_password("correct horse battery", &second));
        assert!(!verify_password("correct horse batterY", &first));
        assert!(!verify_password("correct horse battery", "not a hash"));
    }

    #[test]
    fn without_a_stored_hash_nothing_verifies() {
        assert!(!verify_password_or_dummy("anything at all", None));
        let stored = hash_password("correct horse battery").unwrap();
        assert!(verify_password_or_dummy("correct horse battery", Some(&stored)));
    }
}
