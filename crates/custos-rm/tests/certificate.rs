//! OpenDSR signatures checked against a processor's certificate. The
//! fixtures were made with openssl: a self-signed certificate (RSA 2048) and
//! a status body signed with its key (`openssl dgst -sha256 -sign`).

use custos_rm::processor::certificate::{CertificateError, ProcessorCertificate, SignatureError};
use time::macros::datetime;

const CERTIFICATE: &[u8] = include_bytes!("fixtures/processor-certificate.pem");
const OTHER_CERTIFICATE: &[u8] = include_bytes!("fixtures/other-certificate.pem");
const BODY: &[u8] = include_bytes!("fixtures/status-body.json");
const SIGNATURE: &str = include_str!("fixtures/status-body.sig");

#[test]
fn a_body_signed_with_the_processors_key_verifies() {
    let certificate = ProcessorCertificate::from_pem(CERTIFICATE).unwrap();
    assert_eq!(certificate.verify(BODY, SIGNATURE, datetime!(2030-01-01 0:00 UTC)), Ok(()));
}

#[test]
fn a_changed_body_another_key_or_a_garbled_signature_do_not() {
    let now = datetime!(2030-01-01 0:00 UTC);
    let certificate = ProcessorCertificate::from_pem(CERTIFICATE).unwrap();
    let forged = String::from_utf8(BODY.to_vec()).unwrap().replace("completed", "cancelled");
    assert_eq!(certificate.verify(forged.as_bytes(), SIGNATURE, now), Err(SignatureError::Mismatch));
    let other = ProcessorCertificate::from_pem(OTHER_CERTIFICATE).unwrap();
    assert_eq!(other.verify(BODY, SIGNATURE, now), Err(SignatureError::Mismatch));
    assert_eq!(certificate.verify(BODY, "not base64!", now), Err(SignatureError::NotBase64));
    assert_eq!(certificate.verify(BODY, "AAAA", now), Err(SignatureError::Mismatch));
}

#[test]
fn an_expired_certificate_verifies_nothing() {
    let certificate = ProcessorCertificate::from_pem(CERTIFICATE).unwrap();
    assert_eq!(
        certificate.verify(BODY, SIGNATURE, datetime!(2200-01-01 0:00 UTC)),
        Err(SignatureError::CertificateExpired)
    );
    assert_eq!(
        certificate.verify(BODY, SIGNATURE, datetime!(2000-01-01 0:00 UTC)),
        Err(SignatureError::CertificateExpired)
    );
}

#[test]
fn only_pem_certificates_with_rsa_keys_are_read() {
    assert_eq!(ProcessorCertificate::from_pem(b"hello").unwrap_err(), CertificateError::NoCertificate);
    let garbled = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    assert_eq!(ProcessorCertificate::from_pem(garbled).unwrap_err(), CertificateError::Malformed);
}

mod trust {
    //! mParticle's certificate must chain to the system's roots and name the
    //! processor's domain; certificates are made here with rcgen.

    use std::sync::Arc;

    use custos_rm::processor::certificate::ProcessorCertificate;
    use custos_rm::processor::trust::{fingerprint, load_system_roots, verify_chain};
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    use rustls::RootCertStore;
    use time::OffsetDateTime;

    struct Authority {
        params: CertificateParams,
        key: KeyPair,
        pem: String,
        der: Vec<u8>,
    }

    fn authority(name: &str) -> Authority {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let certificate = params.self_signed(&key).unwrap();
        Authority { pem: certificate.pem(), der: certificate.der().to_vec(), params, key }
    }

    fn leaf(authority: &Authority, domain: &str) -> Vec<u8> {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec![domain.to_owned()]).unwrap();
        let issuer = Issuer::from_params(&authority.params, &authority.key);
        params.signed_by(&key, &issuer).unwrap().der().to_vec()
    }

    fn roots(authority: &Authority) -> Arc<RootCertStore> {
        let mut roots = RootCertStore::empty();
        roots.add(authority.der.clone().into()).unwrap();
        Arc::new(roots)
    }

    #[test]
    fn a_certificate_chained_to_a_root_and_naming_the_domain_is_trusted_and_no_other() {
        let now = OffsetDateTime::now_utc();
        let ca = authority("Test Root CA");
        let chain = vec![leaf(&ca, "opendsr.mparticle.com")];
        assert_eq!(verify_chain(&chain, "opendsr.mparticle.com", roots(&ca), now), Ok(()));
        let error = verify_chain(&chain, "opendsr.evil.example", roots(&ca), now).unwrap_err();
        assert!(error.contains("not trusted for opendsr.evil.example"), "{error}");
        let stranger = authority("Another CA");
        assert!(verify_chain(&chain, "opendsr.mparticle.com", roots(&stranger), now).is_err());
        assert!(
            verify_chain(&chain, "opendsr.mparticle.com", roots(&ca), now + time::Duration::days(365 * 5000)).is_err()
        );
        assert!(verify_chain(&[], "opendsr.mparticle.com", roots(&ca), now).is_err());
    }

    #[test]
    fn the_system_roots_come_from_ssl_cert_file() {
        let ca = authority("Root CA given by SSL_CERT_FILE");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("roots.pem");
        std::fs::write(&file, &ca.pem).unwrap();
        // Only this test of the binary reads the variable.
        std::env::set_var("SSL_CERT_FILE", &file);
        let roots = Arc::new(load_system_roots());
        let chain = vec![leaf(&ca, "opendsr.mparticle.com")];
        assert_eq!(verify_chain(&chain, "opendsr.mparticle.com", roots, OffsetDateTime::now_utc()), Ok(()));
    }

    #[test]
    fn a_fingerprint_is_the_sha256_of_the_leaf_as_openssl_prints_it() {
        let certificate = ProcessorCertificate::from_pem(super::CERTIFICATE).unwrap();
        let printed = certificate.fingerprint();
        assert_eq!(printed, fingerprint(&certificate.chain()[0]));
        assert_eq!(printed.len(), 32 * 3 - 1);
        assert!(printed
            .split(':')
            .all(|pair| pair.len() == 2 && pair.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())));
    }
}
