//! Tokens whose signature, audience and issuer already checked out.
//!
//! Every MCP request carries the caller's bearer token, and a persona sends
//! the same one for every call of its tick; checking an Ed25519 signature
//! each time was a tenth of the gateway's CPU per tool call. A token's bytes
//! fix its claims and the signing key never changes within a process, so a
//! verified token stays verified; only its expiry is checked again on every
//! use.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::jwt::Claims;

pub struct VerifiedTokens {
    capacity: usize,
    tokens: Mutex<HashMap<Box<str>, Claims>>,
}

impl VerifiedTokens {
    pub fn new(capacity: usize) -> VerifiedTokens {
        VerifiedTokens {
            capacity: capacity.max(1),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Box<str>, Claims>> {
        // Every change is one insert, remove or retain: a poisoned map is whole.
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The claims of `token` if it was verified before.
    pub fn get(&self, token: &str) -> Option<Claims> {
        self.lock().get(token).cloned()
    }

    /// Remembers a verified token. When full, expired tokens go first, then
    /// a quarter of the rest (whichever the map yields first), so a burst of
    /// new tokens costs one sweep, not one per insert.
    pub fn insert(&self, token: &str, claims: Claims, now: i64) {
        let mut tokens = self.lock();
        if tokens.len() >= self.capacity {
            tokens.retain(|_, claims| claims.exp >= now);
        }
        if tokens.len() >= self.capacity {
            let evicted: Vec<Box<str>> = tokens
                .keys()
                .take(self.capacity.div_ceil(4))
                .cloned()
                .collect();
            for token in evicted {
                tokens.remove(&token);
            }
        }
        tokens.insert(token.into(), claims);
    }

    /// Forgets every token of user `sub` (the user was deleted).
    pub fn forget_user(&self, sub: &str) {
        self.lock().retain(|_, claims| claims.sub != sub);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(sub: &str, exp: i64) -> Claims {
        Claims {
            sub: sub.into(),
            email: format!("{sub}@example.org"),
            kind: "persona".into(),
            role: "user".into(),
            aud: "mana".into(),
            iss: "mana-gateway".into(),
            iat: 0,
            exp,
        }
    }

    #[test]
    fn stays_within_its_capacity_dropping_expired_tokens_first() {
        let cache = VerifiedTokens::new(8);
        for n in 0..4 {
            cache.insert(&format!("old{n}"), claims("old", 10), 0);
        }
        for n in 0..4 {
            cache.insert(&format!("live{n}"), claims("live", 1_000), 0);
        }
        // Full: the next insert at t=100 sweeps the four expired ones.
        cache.insert("new", claims("new", 1_000), 100);
        assert_eq!(cache.len(), 5);
        assert!(cache.get("old0").is_none());
        assert_eq!(cache.get("live3").map(|c| c.sub), Some("live".into()));
        for n in 0..100 {
            cache.insert(&format!("more{n}"), claims("more", 1_000), 100);
            assert!(cache.len() <= 8);
        }
        assert!(cache.get("more99").is_some());
        cache.insert("kept", claims("kept", 1_000), 100);
        cache.forget_user("more");
        assert!(cache.get("more99").is_none());
        assert_eq!(cache.get("kept").map(|c| c.sub), Some("kept".into()));
    }
}
