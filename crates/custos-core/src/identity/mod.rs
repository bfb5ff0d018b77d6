//! Identity resolution: mParticle's IDSync with its default strategy,
//! profile conversion, where the customer ID is the unique login ID.
//!
//! The store looks up who owns each identity of a request and hands the
//! answers to [`resolve`], which decides which profile the request reaches
//! and which identities move to it. Nothing here touches storage.

mod kinds;
mod strategy;

pub use kinds::{DeviceInfoIdentity, IdentityType, UnknownIdentityType, DEVICE_INFO_IDENTITIES};
pub use strategy::{resolve, resolve_batch, Identity, Mpid, Owner, RequestKind, Resolution};
