//! The encryption vault: hands out users' master keys, unwrapping them with
//! the server's keyring and caching them for a short while.
//!
//! A deleted user's key must not outlive the user in the cache: the cache is
//! emptied whenever the store's deletion count moves (`Store::user_deletions`),
//! checked on every lookup and every maintenance pass, and a user found
//! deleted is forgotten at once ([`Vault::forget`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use registry::crypto::{KeyCache, Keyring, MasterKey};
use registry::store::{KeyError, MasterKeys};

use crate::store::{Store, StoredMasterKey};

pub struct Vault {
    store: Store,
    keyring: Arc<Keyring>,
    cache: KeyCache,
    /// The store's deletion count the cache was filled under.
    deletions_seen: AtomicU64,
}

impl Vault {
    pub fn new(store: Store, keyring: Arc<Keyring>, cache: KeyCache) -> Vault {
        Vault {
            store,
            keyring,
            cache,
            deletions_seen: AtomicU64::new(0),
        }
    }

    /// Forgets a user's cached key (the user was deleted).
    pub fn forget(&self, user_id: &str) {
        self.cache.forget(user_id);
    }

    /// Empties the cache if a user was deleted since it was last checked.
    fn drop_keys_of_deleted_users(&self) {
        let deletions = self.store.user_deletions();
        if self.deletions_seen.swap(deletions, Ordering::AcqRel) != deletions {
            self.cache.clear();
        }
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Drops expired cache entries; the gateway calls it periodically.
    pub fn evict_expired(&self) {
        self.drop_keys_of_deleted_users();
        self.cache.evict_expired(Instant::now());
    }
}

#[async_trait]
impl MasterKeys for Vault {
    async fn master_key(&self, user_id: &str) -> Result<MasterKey, KeyError> {
        self.drop_keys_of_deleted_users();
        if let Some(key) = self.cache.get(user_id, Instant::now()) {
            return Ok(key);
        }
        let stored = self
            .store
            .stored_master_key(user_id)
            .await
            .map_err(|error| {
                tracing::error!(error = ?error, user_id, "reading a wrapped master key failed");
                KeyError::Unavailable("the key store could not be read".into())
            })?;
        let key = match stored {
            StoredMasterKey::ZeroKnowledge => return Err(KeyError::ZeroKnowledgeUser),
            StoredMasterKey::Missing => return Err(KeyError::NoKey(user_id.to_owned())),
            StoredMasterKey::Wrapped(wrapped) => self.keyring.unwrap_key(&wrapped).map_err(|error| {
                tracing::error!(%error, user_id, kek_id = %wrapped.kek_id, "unwrapping a master key failed");
                KeyError::Unavailable(format!("the master key could not be unwrapped: {error}"))
            })?,
        };
        self.cache.insert(user_id, key.clone(), Instant::now());
        Ok(key)
    }
}
