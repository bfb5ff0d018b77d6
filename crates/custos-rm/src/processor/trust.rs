//! Whether a processor's signing certificate is to be trusted, as OpenDSR's
//! security guidelines ask:
//! - an **mParticle** processor's certificate must chain to the system's
//!   trust roots and name the processor's domain (the DSR host), checked
//!   with rustls' WebPKI verifier over the roots `rustls-native-certs`
//!   loads (which honours `SSL_CERT_FILE`);
//! - a **Custos** platform signs with a self-signed certificate, so its
//!   SHA-256 fingerprint is shown when the connection is made and pinned;
//!   a rotated certificate is accepted only by re-checking the connection.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::RootCertStore;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// What a connection's processor certificate must satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// A chain to the system's roots, naming this domain.
    Chain { domain: String },
    /// Exactly the certificate with this fingerprint.
    Pinned(String),
    /// A connection made before pinning: trusted as its discovery endpoint
    /// serves it, until a re-check pins it.
    Unpinned,
}

/// The SHA-256 fingerprint of a certificate (DER), as `openssl x509 -fingerprint -sha256` prints it.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der).iter().map(|byte| format!("{byte:02X}")).collect::<Vec<_>>().join(":")
}

/// The system's trust roots, loaded now (`SSL_CERT_FILE` or `SSL_CERT_DIR` when set).
pub fn load_system_roots() -> RootCertStore {
    let loaded = rustls_native_certs::load_native_certs();
    for error in &loaded.errors {
        tracing::warn!(%error, "a system trust root could not be loaded");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(loaded.certs);
    tracing::debug!(added, ignored, "system trust roots loaded");
    roots
}

/// The system's trust roots, loaded once per process.
pub fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS.get_or_init(|| Arc::new(load_system_roots())).clone()
}

/// Checks that `chain` (leaf first, then intermediates, DER) chains to
/// `roots`, is valid at `now`, and names `domain`.
pub fn verify_chain(
    chain: &[Vec<u8>],
    domain: &str,
    roots: Arc<RootCertStore>,
    now: OffsetDateTime,
) -> Result<(), String> {
    let (leaf, intermediates) = chain.split_first().ok_or("no certificate")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider)
        .build()
        .map_err(|error| format!("no trust roots to check against: {error}"))?;
    let name = ServerName::try_from(domain.to_owned()).map_err(|_| format!("`{domain}` is not a domain name"))?;
    let intermediates: Vec<CertificateDer> =
        intermediates.iter().map(|der| CertificateDer::from(der.clone())).collect();
    let seconds = u64::try_from(now.unix_timestamp()).unwrap_or_default();
    verifier
        .verify_server_cert(
            &CertificateDer::from(leaf.clone()),
            &intermediates,
            &name,
            &[],
            UnixTime::since_unix_epoch(Duration::from_secs(seconds)),
        )
        .map(|_| ())
        .map_err(|error| format!("the processor certificate is not trusted for {domain}: {error}"))
}
