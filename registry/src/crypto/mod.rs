//! Field encryption: the `enc:1:` wire format, per-user master keys wrapped by
//! a server key-encryption key, and the in-process key cache.
//!
//! # Format
//!
//! ```text
//! enc:1:{base64(iv, 12 bytes)}.{base64(ciphertext ‖ tag)}
//! ```
//!
//! The plaintext is the JSON encoding of the value; AES-256-GCM with the user's
//! master key, a fresh random IV per value, standard base64 with padding. This
//! is byte-compatible with the web app's WebCrypto code (the vectors in the
//! tests come from it). `null` is never encrypted.

mod cache;
mod keys;

use aes_gcm::aead::{Aead, Generate, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

pub use cache::KeyCache;
pub use keys::{KeyEncryptionKey, Keyring, MasterKey, WrappedMasterKey};

/// Every encrypted value starts with this.
pub const WIRE_PREFIX: &str = "enc:1:";
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("not an encrypted value: it does not start with {WIRE_PREFIX}")]
    NotEncrypted,
    #[error("malformed encrypted value: no '.' between the IV and the ciphertext")]
    MissingSeparator,
    #[error("malformed encrypted value: the {part} is not valid base64")]
    BadBase64 { part: &'static str },
    #[error("malformed encrypted value: the IV has {0} bytes, expected 12")]
    BadIvLength(usize),
    #[error("malformed encrypted value: the ciphertext is shorter than the 16-byte tag")]
    Truncated,
    #[error("decryption failed: the value was tampered with or encrypted under another key")]
    Authentication,
    #[error("the decrypted bytes are not JSON: {0}")]
    NotJson(String),
    #[error("a key must be 32 bytes, got {0}")]
    BadKeyLength(usize),
    #[error("the system random number generator failed")]
    Random,
    #[error(
        "unknown key-encryption key id {0:?}; configure it in the keyring to read keys wrapped with it"
    )]
    UnknownKek(String),
}

/// Whether a JSON value is an `enc:1:` string.
pub fn is_encrypted(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|text| text.starts_with(WIRE_PREFIX))
}

/// Encrypts raw bytes into `{base64 iv}.{base64 ciphertext‖tag}` (no prefix).
fn seal(key: &[u8; 32], plaintext: &[u8]) -> Result<String, CryptoError> {
    let cipher = Aes256Gcm::new(key.into());
    let nonce = Nonce::try_generate().map_err(|_| CryptoError::Random)?;
    let ciphertext = cipher
        .encrypt(&nonce, plaintext)
        .map_err(|_| CryptoError::Authentication)?;
    Ok(format!(
        "{}.{}",
        STANDARD.encode(nonce),
        STANDARD.encode(ciphertext)
    ))
}

/// Reverses [`seal`].
fn open(key: &[u8; 32], sealed: &str) -> Result<Vec<u8>, CryptoError> {
    let (iv, ciphertext) = sealed
        .split_once('.')
        .ok_or(CryptoError::MissingSeparator)?;
    let iv = STANDARD
        .decode(iv)
        .map_err(|_| CryptoError::BadBase64 { part: "IV" })?;
    let ciphertext = STANDARD
        .decode(ciphertext)
        .map_err(|_| CryptoError::BadBase64 { part: "ciphertext" })?;
    let nonce = Nonce::try_from(iv.as_slice()).map_err(|_| CryptoError::BadIvLength(iv.len()))?;
    if ciphertext.len() < TAG_LEN {
        return Err(CryptoError::Truncated);
    }
    debug_assert_eq!(nonce.len(), IV_LEN);
    Aes256Gcm::new(key.into())
        .decrypt(&nonce, ciphertext.as_slice())
        .map_err(|_| CryptoError::Authentication)
}

/// Encrypts one JSON value into its wire string; `null` stays `null`.
pub fn encrypt_value(key: &MasterKey, value: &Value) -> Result<Value, CryptoError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let json = value.to_string();
    Ok(Value::String(format!(
        "{WIRE_PREFIX}{}",
        seal(key.bytes(), json.as_bytes())?
    )))
}

/// Decrypts one wire string back into its JSON value.
pub fn decrypt_value(key: &MasterKey, wire: &str) -> Result<Value, CryptoError> {
    let sealed = wire
        .strip_prefix(WIRE_PREFIX)
        .ok_or(CryptoError::NotEncrypted)?;
    let plaintext = open(key.bytes(), sealed)?;
    serde_json::from_slice(&plaintext).map_err(|error| CryptoError::NotJson(error.to_string()))
}

#[cfg(test)]
mod tests;
