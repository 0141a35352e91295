//! An in-process cache of unwrapped master keys with a time-to-live, so a
//! burst of tool calls unwraps a user's key once, and a key does not stay in
//! memory long after its user went quiet.

use std::time::{Duration, Instant};

use dashmap::DashMap;

use super::MasterKey;

pub struct KeyCache {
    /// How long an entry is served after it was stored.
    ttl: Duration,
    entries: DashMap<String, (Instant, MasterKey)>,
}

impl KeyCache {
    pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

    pub fn new(ttl: Duration) -> KeyCache {
        KeyCache {
            ttl,
            entries: DashMap::new(),
        }
    }

    pub fn get(&self, user_id: &str, now: Instant) -> Option<MasterKey> {
        let fresh = self
            .entries
            .get(user_id)
            .filter(|entry| now.duration_since(entry.0) < self.ttl)
            .map(|entry| entry.1.clone());
        if fresh.is_none() {
            self.entries
                .remove_if(user_id, |_, entry| now.duration_since(entry.0) >= self.ttl);
        }
        fresh
    }

    pub fn insert(&self, user_id: &str, key: MasterKey, now: Instant) {
        self.entries.insert(user_id.to_owned(), (now, key));
    }

    /// Forgets a user's key (their account was deleted or re-keyed).
    pub fn forget(&self, user_id: &str) {
        self.entries.remove(user_id);
    }

    /// Forgets every key (users were deleted, and which is not known here).
    pub fn clear(&self) {
        self.entries.clear();
    }

    /// Drops every expired entry; call it now and then to bound memory.
    pub fn evict_expired(&self, now: Instant) {
        self.entries
            .retain(|_, entry| now.duration_since(entry.0) < self.ttl);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Default for KeyCache {
    fn default() -> Self {
        KeyCache::new(KeyCache::DEFAULT_TTL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache = KeyCache::new(Duration::from_secs(60));
        let start = Instant::now();
        let key = MasterKey::from_bytes(&[7; 32]).unwrap();
        cache.insert("u1", key.clone(), start);
        assert_eq!(cache.get("u1", start + Duration::from_secs(59)), Some(key));
        assert_eq!(cache.get("u1", start + Duration::from_secs(60)), None);
        assert!(cache.is_empty(), "an expired entry is dropped when read");
        cache.insert("u2", MasterKey::from_bytes(&[1; 32]).unwrap(), start);
        cache.evict_expired(start + Duration::from_secs(61));
        assert!(cache.is_empty());
    }
}
