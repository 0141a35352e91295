//! JWT signing keys as stored (sealed by a key-encryption key).

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::{Store, StoreError, with_pool};

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SigningKeyRow {
    pub kid: String,
    pub algorithm: String,
    pub sealed_private_key: String,
    pub kek_id: String,
    /// Base64url, unpadded.
    pub public_key: String,
    pub created_at: DateTime<Utc>,
}

impl Store {
    pub async fn latest_signing_key(&self) -> Result<Option<SigningKeyRow>, StoreError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT kid, algorithm, sealed_private_key, kek_id, public_key, created_at \
                 FROM signing_keys ORDER BY created_at DESC, kid DESC LIMIT 1",
            )
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Stores a new key; a key with the same kid already stored is kept.
    pub async fn insert_signing_key(&self, key: &SigningKeyRow) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO signing_keys (kid, algorithm, sealed_private_key, kek_id, public_key, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kid) DO NOTHING",
            )
            .bind(&key.kid)
            .bind(&key.algorithm)
            .bind(&key.sealed_private_key)
            .bind(&key.kek_id)
            .bind(&key.public_key)
            .bind(key.created_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}
