//! The Request Manager's vocabulary and rules: requests and their deadlines,
//! connections and their endpoints, the step machine each connection's
//! share of a request goes through, the workflow around it (verification,
//! approval, extension, delivery), roles and their permissions, and the
//! figures of the report.
//!
//! **Invariant:** no I/O, no async, no serde. Everything here is a pure
//! function of its arguments (the clock included), so the rules are tested
//! without a database, a network or a wait.

pub mod connection;
pub mod extension;
pub mod job;
pub mod report;
pub mod request;
pub mod role;
pub mod workflow;

/// A client error in one field of a request body, named by its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError { field: field.into(), message: message.into() }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A required text field: present, and not blank once trimmed, and at most `max` characters.
fn required_text(value: Option<String>, field: &str, max: usize, problems: &mut Vec<FieldError>) -> Option<String> {
    match value.map(|v| v.trim().to_owned()) {
        None => problems.push(FieldError::new(field, "is required")),
        Some(v) if v.is_empty() => problems.push(FieldError::new(field, "must not be empty")),
        Some(v) if v.chars().count() > max => {
            problems.push(FieldError::new(field, format!("must be at most {max} characters")))
        }
        Some(v) => return Some(v),
    }
    None
}
