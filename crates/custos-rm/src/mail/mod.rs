//! Mail: what the Request Manager tells subjects and operators
//! ([`messages`]), and how it reaches them ([`smtp`]).
//!
//! Messages go through the outbox (a table), written in the same
//! transaction as the change they tell of, and are sent by the serving
//! process with retries; without SMTP they wait there for an operator to
//! send them by hand. Recipient and body are sealed at rest.

pub mod messages;
pub mod smtp;

pub use smtp::{Mailer, SmtpConfig};
