//! The master key, and secrets sealed with it.
//!
//! Most secrets are stored as hashes only. An input secret must also be
//! recoverable, because the Identity API's HMAC signature is keyed with the
//! secret itself; it is stored sealed with AES-256-GCM under the master key,
//! which never enters the database.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;

/// The environment variable that supplies the master key (base64 of 32 bytes),
/// for nodes that share a PostgreSQL database.
pub const MASTER_KEY_ENV: &str = "CUSTOS_MASTER_KEY";

#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("the master key must be base64 of 32 bytes")]
    Malformed,
    #[error("reading or writing the master key file: {0}")]
    Io(#[from] std::io::Error),
}

impl MasterKey {
    pub fn generate() -> MasterKey {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        MasterKey(key)
    }

    pub fn from_base64(text: &str) -> Result<MasterKey, MasterKeyError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| MasterKeyError::Malformed)?;
        Ok(MasterKey(bytes.try_into().map_err(|_| MasterKeyError::Malformed)?))
    }

    /// The key from `CUSTOS_MASTER_KEY`, else from `path`, created (mode 0600) if missing.
    pub fn load_or_create(path: &Path) -> Result<MasterKey, MasterKeyError> {
        if let Ok(text) = std::env::var(MASTER_KEY_ENV) {
            return MasterKey::from_base64(&text);
        }
        match std::fs::read_to_string(path) {
            Ok(text) => MasterKey::from_base64(&text),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let key = MasterKey::generate();
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                write_private(path, &STANDARD.encode(key.0))?;
                Ok(key)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// A key for one purpose, derived from the master key (HMAC-SHA256 of
    /// the purpose's label), so that every node sharing the master key
    /// derives the same one and no purpose's key reveals another's.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Nonce and ciphertext, base64.
    pub fn seal(&self, plaintext: &str) -> String {
        let cipher = Aes256Gcm::new((&self.0).into());
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let ciphertext = cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            .expect("AES-GCM encryption of a short secret cannot fail");
        let mut sealed = nonce.to_vec();
        sealed.extend(ciphertext);
        STANDARD.encode(sealed)
    }

    /// The plaintext, or `None` if `sealed` was not sealed with this key.
    pub fn open(&self, sealed: &str) -> Option<String> {
        let bytes = STANDARD.decode(sealed).ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let plaintext = Aes256Gcm::new((&self.0).into()).decrypt(Nonce::from_slice(nonce), ciphertext).ok()?;
        String::from_utf8(plaintext).ok()
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let key = MasterKey::generate();
        let sealed = key.seal("s3cret");
        assert!(!sealed.contains("s3cret"));
        assert_eq!(key.open(&sealed).as_deref(), Some("s3cret"));
        assert_eq!(MasterKey::generate().open(&sealed), None);
        assert_eq!(key.open("garbage"), None);
    }

    #[test]
    fn the_key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let first = MasterKey::load_or_create(&path).unwrap();
        let second = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(second.open(&first.seal("x")).as_deref(), Some("x"));
    }
}
