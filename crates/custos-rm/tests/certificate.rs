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
