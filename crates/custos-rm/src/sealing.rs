//! The Request Manager's key, which seals what must be recovered: connection
//! secrets, the subjects' identities, access results. AES-256-GCM; the key
//! never enters the database.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;

/// The environment variable that supplies the key (base64 of 32 bytes),
/// instead of the file in the data directory.
pub const KEY_ENV: &str = "CUSTOS_RM_MASTER_KEY";
/// The key file's name in the data directory.
pub const KEY_FILE: &str = "rm.key";

const NONCE_BYTES: usize = 12;

#[derive(Clone)]
pub struct SealingKey([u8; 32]);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(***)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the key must be base64 of 32 bytes")]
    Malformed,
    #[error("reading or writing the key file: {0}")]
    Io(#[from] std::io::Error),
}

impl SealingKey {
    pub fn generate() -> SealingKey {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        SealingKey(key)
    }

    pub fn from_base64(text: &str) -> Result<SealingKey, KeyError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| KeyError::Malformed)?;
        Ok(SealingKey(bytes.try_into().map_err(|_| KeyError::Malformed)?))
    }

    /// The key from [`KEY_ENV`], else from `dir`/[`KEY_FILE`], created (mode 0600) if missing.
    pub fn load_or_create(dir: &Path) -> Result<SealingKey, KeyError> {
        if let Ok(text) = std::env::var(KEY_ENV) {
            return SealingKey::from_base64(&text);
        }
        let path = dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => SealingKey::from_base64(&text),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let key = SealingKey::generate();
                std::fs::create_dir_all(dir)?;
                write_private(&path, &STANDARD.encode(key.0))?;
                Ok(key)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Nonce then ciphertext.
    pub fn seal_bytes(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_BYTES];
        OsRng.fill_bytes(&mut nonce);
        let ciphertext = Aes256Gcm::new((&self.0).into())
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut sealed = nonce.to_vec();
        sealed.extend(ciphertext);
        sealed
    }

    /// The plaintext, or `None` if `sealed` was not sealed with this key.
    pub fn open_bytes(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_BYTES {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
        Aes256Gcm::new((&self.0).into()).decrypt(Nonce::from_slice(nonce), ciphertext).ok()
    }

    /// [`SealingKey::seal_bytes`] as base64 text.
    pub fn seal(&self, plaintext: &str) -> String {
        STANDARD.encode(self.seal_bytes(plaintext.as_bytes()))
    }

    pub fn open(&self, sealed: &str) -> Option<String> {
        let bytes = STANDARD.decode(sealed).ok()?;
        String::from_utf8(self.open_bytes(&bytes)?).ok()
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
    fn sealed_text_and_bytes_open_only_with_their_key() {
        let key = SealingKey::generate();
        let sealed = key.seal("s3cret");
        assert!(!sealed.contains("s3cret"));
        assert_eq!(key.open(&sealed).as_deref(), Some("s3cret"));
        assert_eq!(SealingKey::generate().open(&sealed), None);
        assert_eq!(key.open("garbage"), None);
        let bytes = key.seal_bytes(b"zip bytes");
        assert_eq!(key.open_bytes(&bytes).as_deref(), Some(&b"zip bytes"[..]));
        assert_eq!(key.open_bytes(&bytes[..5]), None);
    }

    #[test]
    fn the_key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = SealingKey::load_or_create(dir.path()).unwrap();
        let second = SealingKey::load_or_create(dir.path()).unwrap();
        assert_eq!(second.open(&first.seal("x")).as_deref(), Some("x"));
    }
}
