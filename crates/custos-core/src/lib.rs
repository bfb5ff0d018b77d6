//! The domain core of Custos: the vocabulary and the rules of the platform.
//!
//! Nothing here performs I/O, spawns tasks or knows about HTTP, SQL or JSON.
//! Every function is deterministic, so the rules that matter to compliance
//! (who may do what, what a valid role looks like) are tested in isolation.
//!
//! # Layout
//! - [`access`]: tasks, custom roles, role manifests and effective permissions
//!   (mParticle's Custom Access Roles model).
//! - [`events`]: the rules of Events API batches: event types, consent
//!   purposes, reaching a profile.
//! - [`scope`]: which APIs an API credential may call.
//! - [`identity`]: identity types and IDSync's profile conversion strategy.
//! - [`ids`]: typed identifiers of tenants.
//! - [`dsr`]: data subject requests: types, identities, schedule, retries.

pub mod access;
pub mod dsr;
pub mod events;
pub mod identity;
pub mod ids;
pub mod scope;
