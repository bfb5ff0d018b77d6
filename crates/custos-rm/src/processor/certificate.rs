//! Checking OpenDSR signatures: `X-OpenDSR-Signature` is base64 of an RSA
//! PKCS#1 v1.5 SHA-256 signature over the raw body, made with the key whose
//! certificate the processor's discovery endpoint names.
//!
//! Whether the certificate itself is trusted is `trust.rs`'s business: a
//! chain to the system's roots for mParticle, a pinned fingerprint for
//! Custos platforms (which sign with self-signed certificates).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use sha2::Sha256;
use time::OffsetDateTime;
use x509_parser::pem::Pem;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertificateError {
    #[error("no PEM certificate found")]
    NoCertificate,
    #[error("the certificate cannot be parsed")]
    Malformed,
    #[error("the certificate's key is not an RSA key")]
    NotRsa,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("the signature is not base64")]
    NotBase64,
    #[error("the signature does not match the body")]
    Mismatch,
    #[error("the processor's certificate is not valid now")]
    CertificateExpired,
}

/// A processor's signing certificate: its public key and validity, and the
/// chain it came with (DER, leaf first).
#[derive(Debug, Clone)]
pub struct ProcessorCertificate {
    key: VerifyingKey<Sha256>,
    not_before: i64,
    not_after: i64,
    chain: Vec<Vec<u8>>,
    fingerprint: String,
}

impl ProcessorCertificate {
    /// The first certificate of a PEM file (a chain starts with the leaf).
    pub fn from_pem(pem: &[u8]) -> Result<ProcessorCertificate, CertificateError> {
        let chain: Vec<Pem> =
            Pem::iter_from_buffer(pem).filter_map(Result::ok).filter(|pem| pem.label == "CERTIFICATE").collect();
        let pem = chain.first().ok_or(CertificateError::NoCertificate)?;
        let certificate = pem.parse_x509().map_err(|_| CertificateError::Malformed)?;
        let key =
            RsaPublicKey::from_public_key_der(certificate.public_key().raw).map_err(|_| CertificateError::NotRsa)?;
        let validity = certificate.validity();
        Ok(ProcessorCertificate {
            key: VerifyingKey::new(key),
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
            fingerprint: super::trust::fingerprint(&pem.contents),
            chain: chain.into_iter().map(|pem| pem.contents).collect(),
        })
    }

    /// The leaf's SHA-256 fingerprint (`AB:CD:…`).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The certificates served, DER, leaf first.
    pub fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    pub fn verify(&self, body: &[u8], signature_base64: &str, now: OffsetDateTime) -> Result<(), SignatureError> {
        let now = now.unix_timestamp();
        if now < self.not_before || now > self.not_after {
            return Err(SignatureError::CertificateExpired);
        }
        let bytes = STANDARD.decode(signature_base64.trim()).map_err(|_| SignatureError::NotBase64)?;
        let signature = Signature::try_from(bytes.as_slice()).map_err(|_| SignatureError::Mismatch)?;
        self.key.verify(body, &signature).map_err(|_| SignatureError::Mismatch)
    }
}
