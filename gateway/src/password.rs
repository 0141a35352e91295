//! Login password hashing with argon2id (the crate's recommended parameters).
//!
//! Hashing is deliberately slow, so both functions run on the blocking pool
//! rather than stalling an async worker thread.

use argon2::Argon2;
use password_hash::rand_core::OsRng;
use password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("the password hashing task did not finish: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Hashes `password` into a PHC string (`$argon2id$v=19$…`).
pub async fn hash_password(password: String) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|error| PasswordError::Hash(error.to_string()))
    })
    .await?
}

/// Whether `password` matches the stored PHC string; a malformed stored hash
/// counts as a mismatch rather than an error, so it can never let anyone in.
pub async fn verify_password(password: String, stored_hash: String) -> Result<bool, PasswordError> {
    let matches = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored_hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await?;
    Ok(matches)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ_per_salt() {
        let first = hash_password("correct horse".into()).await.unwrap();
        let second = hash_password("correct horse".into()).await.unwrap();
        assert!(first.starts_with("$argon2id$"));
        assert_ne!(first, second);
        assert!(
            verify_password("correct horse".into(), first.clone())
                .await
                .unwrap()
        );
        assert!(!verify_password("wrong".into(), first).await.unwrap());
        assert!(
            !verify_password("x".into(), "not-a-hash".into())
                .await
                .unwrap()
        );
    }
}
