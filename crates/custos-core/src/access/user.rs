//! The users of an organization, known by email address.

use std::fmt;

/// A user's email address, normalized to lower case so that one person is
/// one user however the address is typed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserEmail(String);

/// Longest address, per RFC 5321's path limit.
pub const MAX_EMAIL_CHARS: usize = 254;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEmail {
    #[error("email: is required")]
    Empty,
    #[error("email: exceeds the maximum length of {MAX_EMAIL_CHARS} characters")]
    TooLong,
    #[error("email: must not contain spaces or control characters")]
    RestrictedCharacter,
    #[error("email: must have the form name@domain.tld")]
    Malformed,
}

impl UserEmail {
    pub fn parse(text: &str) -> Result<UserEmail, InvalidEmail> {
        let text = text.trim();
        if text.is_empty() {
            return Err(InvalidEmail::Empty);
        }
        if text.chars().count() > MAX_EMAIL_CHARS {
            return Err(InvalidEmail::TooLong);
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(InvalidEmail::RestrictedCharacter);
        }
        let (local, domain) = text.split_once('@').ok_or(InvalidEmail::Malformed)?;
        let domain_ok =
            domain.contains('.') && !domain.contains('@') && domain.split('.').all(|label| !label.is_empty());
        if local.is_empty() || !domain_ok {
            return Err(InvalidEmail::Malformed);
        }
        Ok(UserEmail(text.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_trimmed_and_lower_cased() {
        assert_eq!(UserEmail::parse(" Ann@Example.COM ").unwrap().as_str(), "ann@example.com");
    }

    #[test]
    fn malformed_addresses_are_refused_with_the_rule_they_break() {
        assert_eq!(UserEmail::parse("").unwrap_err(), InvalidEmail::Empty);
        assert_eq!(UserEmail::parse("ann").unwrap_err(), InvalidEmail::Malformed);
        assert_eq!(UserEmail::parse("@example.com").unwrap_err(), InvalidEmail::Malformed);
        assert_eq!(UserEmail::parse("ann@example").unwrap_err(), InvalidEmail::Malformed);
        assert_eq!(UserEmail::parse("ann@@example.com").unwrap_err(), InvalidEmail::Malformed);
        assert_eq!(UserEmail::parse("ann@example..com").unwrap_err(), InvalidEmail::Malformed);
        assert_eq!(UserEmail::parse("a nn@example.com").unwrap_err(), InvalidEmail::RestrictedCharacter);
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(UserEmail::parse(&long).unwrap_err(), InvalidEmail::TooLong);
    }
}
