//! The processor's signature: RSA PKCS#1 v1.5 with SHA-256 over the raw body
//! bytes, base64, in `X-OpenDSR-Signature`, verifiable with the public key
//! of the certificate served at the discovery document's `processor_certificate`.
//!
//! The key and certificate are the operator's (a CA-issued certificate, as
//! OpenDSR wants) or, by default, generated on first use: an RSA-2048 key and
//! a self-signed certificate for the processor domain, kept in the store with
//! the key sealed under the master key, so that every node signs alike.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use custos_store::{ProcessorIdentity, Store};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use sha2::Sha256;
use time::OffsetDateTime;

use crate::config::ProcessorIdentityPem;
use crate::sealing::MasterKey;

pub(crate) struct ProcessorSigner {
    key: SigningKey<Sha256>,
    certificate_pem: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SignerError {
    #[error("the processor private key is not an RSA key in PKCS#8 or PKCS#1 PEM")]
    Key,
    #[error("the processor certificate is not PEM")]
    Certificate,
    #[error("the sealed processor key in the store does not open with this master key")]
    Sealed,
    #[error("generating the processor key: {0}")]
    Generate(String),
    #[error(transparent)]
    Store(#[from] custos_store::StoreError),
}

impl ProcessorSigner {
    /// The operator's identity if configured, else the store's, else a new one saved there.
    pub(crate) async fn load(
        store: &dyn Store,
        master_key: &MasterKey,
        configured: Option<&ProcessorIdentityPem>,
        domain: &str,
        now: OffsetDateTime,
    ) -> Result<ProcessorSigner, SignerError> {
        if let Some(pem) = configured {
            return ProcessorSigner::from_pem(&pem.private_key_pem, &pem.certificate_pem);
        }
        let ProcessorIdentity { key_sealed: sealed, certificate_pem } = match store.processor_identity().await? {
            Some(kept) => kept,
            None => {
                let domain = domain.to_owned();
                let generated = tokio::task::spawn_blocking(move || generate(&domain))
                    .await
                    .map_err(|e| SignerError::Generate(e.to_string()))??;
                let sealed = master_key.seal(&generated.private_key_pem);
                store.save_processor_identity(&sealed, &generated.certificate_pem, now).await?
            }
        };
        let key_pem = master_key.open(&sealed).ok_or(SignerError::Sealed)?;
        ProcessorSigner::from_pem(&key_pem, &certificate_pem)
    }

    pub(crate) fn from_pem(key_pem: &str, certificate_pem: &str) -> Result<ProcessorSigner, SignerError> {
        let key = RsaPrivateKey::from_pkcs8_pem(key_pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(key_pem))
            .map_err(|_| SignerError::Key)?;
        if !certificate_pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(SignerError::Certificate);
        }
        Ok(ProcessorSigner { key: SigningKey::new(key), certificate_pem: certificate_pem.to_owned() })
    }

    /// The base64 signature of `body`.
    pub(crate) fn sign(&self, body: &[u8]) -> String {
        STANDARD.encode(self.key.sign(body).to_bytes())
    }

    pub(crate) fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }
}

/// A new RSA-2048 key (PKCS#8 PEM) and a self-signed certificate for `domain`.
fn generate(domain: &str) -> Result<ProcessorIdentityPem, SignerError> {
    let failed = |e: &dyn std::fmt::Display| SignerError::Generate(e.to_string());
    let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).map_err(|e| failed(&e))?;
    let key_pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| failed(&e))?.to_string();
    let key_pair = rcgen::KeyPair::from_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256).map_err(|e| failed(&e))?;
    let mut params = rcgen::CertificateParams::new(vec![domain.to_owned()]).map_err(|e| failed(&e))?;
    params.distinguished_name.push(rcgen::DnType::CommonName, domain);
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "Custos");
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(5 * 365);
    let certificate = params.self_signed(&key_pair).map_err(|e| failed(&e))?;
    Ok(ProcessorIdentityPem { private_key_pem: key_pem, certificate_pem: certificate.pem() })
}

#[cfg(test)]
mod tests {
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;

    use super::*;

    #[test]
    fn a_generated_identity_signs_what_its_key_verifies() {
        let ProcessorIdentityPem { private_key_pem: key_pem, certificate_pem } = generate("dsr.example.com").unwrap();
        assert!(certificate_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let signer = ProcessorSigner::from_pem(&key_pem, &certificate_pem).unwrap();
        let signature = STANDARD.decode(signer.sign(b"{\"a\":1}")).unwrap();
        let verifying = VerifyingKey::<Sha256>::new(RsaPrivateKey::from_pkcs8_pem(&key_pem).unwrap().to_public_key());
        let signature = Signature::try_from(signature.as_slice()).unwrap();
        assert!(verifying.verify(b"{\"a\":1}", &signature).is_ok());
        assert!(verifying.verify(b"{\"a\":2}", &signature).is_err());
        assert!(matches!(ProcessorSigner::from_pem("nope", &certificate_pem), Err(SignerError::Key)));
    }
}
