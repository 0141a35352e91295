//! Per-user master keys and the server's key-encryption keys (KEKs).
//!
//! A master key is 32 random bytes created at signup. It is stored only
//! wrapped: sealed with the current KEK, whose id is stored beside it so the
//! KEK can rotate — old ids stay in the [`Keyring`] for reading.

use std::collections::HashMap;
use std::fmt;

use aes_gcm::aead::Generate;
use aes_gcm::{Aes256Gcm, Key};

use super::{CryptoError, open, seal};

/// A user's 32-byte data key. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    pub fn generate() -> Result<MasterKey, CryptoError> {
        let key = Key::<Aes256Gcm>::try_generate().map_err(|_| CryptoError::Random)?;
        Ok(MasterKey(key.into()))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<MasterKey, CryptoError> {
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| CryptoError::BadKeyLength(bytes.len()))?;
        Ok(MasterKey(bytes))
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// A server key that wraps master keys at rest.
#[derive(Clone)]
pub struct KeyEncryptionKey {
    pub id: String,
    key: [u8; 32],
}

impl KeyEncryptionKey {
    pub fn new(id: impl Into<String>, key: &[u8]) -> Result<KeyEncryptionKey, CryptoError> {
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| CryptoError::BadKeyLength(key.len()))?;
        Ok(KeyEncryptionKey { id: id.into(), key })
    }
}

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEncryptionKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A master key as stored: sealed, and the id of the KEK that sealed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedMasterKey {
    pub kek_id: String,
    pub sealed: String,
}

/// The current KEK (wraps new keys) and older ones (still unwrap).
#[derive(Debug, Clone)]
pub struct Keyring {
    current: KeyEncryptionKey,
    by_id: HashMap<String, KeyEncryptionKey>,
}

impl Keyring {
    pub fn new(current: KeyEncryptionKey, previous: Vec<KeyEncryptionKey>) -> Keyring {
        let mut by_id: HashMap<String, KeyEncryptionKey> = previous
            .into_iter()
            .map(|kek| (kek.id.clone(), kek))
            .collect();
        by_id.insert(current.id.clone(), current.clone());
        Keyring { current, by_id }
    }

    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    pub fn wrap(&self, master_key: &MasterKey) -> Result<WrappedMasterKey, CryptoError> {
        Ok(WrappedMasterKey {
            kek_id: self.current.id.clone(),
            sealed: seal(&self.current.key, master_key.bytes())?,
        })
    }

    pub fn unwrap_key(&self, wrapped: &WrappedMasterKey) -> Result<MasterKey, CryptoError> {
        let kek = self
            .by_id
            .get(&wrapped.kek_id)
            .ok_or_else(|| CryptoError::UnknownKek(wrapped.kek_id.clone()))?;
        MasterKey::from_bytes(&open(&kek.key, &wrapped.sealed)?)
    }
}
