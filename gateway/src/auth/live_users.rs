//! Whether a token's user still exists, asked on every authenticated
//! request and remembered for a short while.
//!
//! A JWT stays valid until it expires, but deleting a user must revoke it at
//! once. Asking the database on every request would add a query to every
//! MCP call, so a confirmed user is remembered for [`CONFIRMED_FOR`]. The
//! memory is wiped whenever the store's deletion count moves
//! (`Store::user_deletions`): a deletion through any clone of the store in
//! this process is seen by the next request. A deletion by another process
//! on the same database is seen within [`CONFIRMED_FOR`].

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::store::{Store, StoreError};

/// How long a confirmed user is believed to exist without asking again.
pub const CONFIRMED_FOR: Duration = Duration::from_secs(30);
/// Users remembered at most (an id and an instant each); past it the
/// memory is emptied, which costs one query per active user.
pub const MAX_REMEMBERED: usize = 16_384;

pub struct LiveUsers {
    capacity: usize,
    confirmed: Mutex<Confirmed>,
}

struct Confirmed {
    /// The store's deletion count the entries were confirmed under.
    deletions: u64,
    at: HashMap<Box<str>, Instant>,
}

impl Default for LiveUsers {
    fn default() -> Self {
        LiveUsers::new(MAX_REMEMBERED)
    }
}

impl LiveUsers {
    pub fn new(capacity: usize) -> LiveUsers {
        LiveUsers {
            capacity: capacity.max(1),
            confirmed: Mutex::new(Confirmed {
                deletions: 0,
                at: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Confirmed> {
        // Every change is one insert, clear or retain: a poisoned map is
        // whole. Never held across an await.
        self.confirmed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `user_id` names a live user.
    pub async fn is_live(&self, store: &Store, user_id: &str) -> Result<bool, StoreError> {
        let deletions = store.user_deletions();
        let now = Instant::now();
        {
            let mut confirmed = self.lock();
            if confirmed.deletions != deletions {
                confirmed.at.clear();
                confirmed.deletions = deletions;
            }
            if confirmed
                .at
                .get(user_id)
                .is_some_and(|at| now.duration_since(*at) < CONFIRMED_FOR)
            {
                return Ok(true);
            }
        }
        let live = store.user_exists(user_id).await?;
        let mut confirmed = self.lock();
        // IMPORTANT: remembered only when no deletion happened since the
        // count was read; else this answer may predate it.
        if live && confirmed.deletions == deletions && store.user_deletions() == deletions {
            if confirmed.at.len() >= self.capacity {
                confirmed
                    .at
                    .retain(|_, at| now.duration_since(*at) < CONFIRMED_FOR);
            }
            if confirmed.at.len() >= self.capacity {
                confirmed.at.clear();
            }
            confirmed.at.insert(user_id.into(), now);
        }
        Ok(live)
    }
}
