//! `SessionBindings`: which user opened which MCP session, and the bounds on
//! how many there are.
//!
//! rmcp's session manager knows nothing of users, so the binding lives here,
//! beside the manager it describes. Two bounds, chosen so one user can never
//! take anything from another:
//!
//! - **per user** (`mcp_max_sessions_per_user`): a user opening one more
//!   session loses its *own* least recently used one (a client that leaks
//!   sessions by never sending DELETE keeps working, and only its stale
//!   sessions go); refusing instead would lock out a client that crashed;
//! - **global** (`mcp_max_sessions`): past it a new session is *refused*
//!   (503, `Retry-After`), never another user's closed. The previous single
//!   global LRU let any user evict everyone else's sessions.
//!
//! A session no request has used for `mcp_session_idle` is expired *here*:
//! rmcp's own idle timeout ends the session's worker but leaves its handle
//! in the manager's map for ever, so a binding cannot learn of it from rmcp.
//! Expiry closes the session in rmcp too (freeing that handle) and runs
//! before every bind, every 30 s in the gateway's maintenance task and on
//! every `/metrics` read, so `gateway_mcp_sessions` is the live count, not a
//! peak, and expired sessions never count against the bounds.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::transport::streamable_http_server::SessionManager as _;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;

use crate::config::GatewayConfig;

/// The gauge of live, bound MCP sessions.
pub const SESSIONS_GAUGE: &str = "gateway_mcp_sessions";

struct Binding {
    user_id: String,
    last_seen: Instant,
}

/// Which user opened which live MCP session.
pub struct SessionBindings {
    manager: Arc<LocalSessionManager>,
    /// A session unused this long is expired and closed.
    idle: Duration,
    /// At most this many bound sessions; binding one more is refused.
    max_sessions: usize,
    /// At most this many per user; binding one more closes the user's own
    /// least recently used.
    max_per_user: usize,
    /// A std mutex, not tokio's: it is never held across an `.await`. At
    /// most `max_sessions` entries; counting one user's is a scan, cheap at
    /// that size.
    bindings: Mutex<HashMap<String, Binding>>,
}

/// Whose a session is, as the guard sees it.
pub(super) enum Owner {
    Caller,
    Other,
    Unknown,
}

/// The global bound is reached; the new session was not kept.
#[derive(Debug, thiserror::Error)]
#[error(
    "the server holds its maximum of {max} MCP sessions; retry later, and close sessions you no longer use (DELETE /mcp)"
)]
pub struct SessionsFull {
    max: usize,
}

impl SessionBindings {
    pub fn new(config: &GatewayConfig) -> SessionBindings {
        let mut manager = LocalSessionManager::default();
        manager.session_config.keep_alive = Some(config.mcp_session_idle);
        SessionBindings {
            manager: Arc::new(manager),
            idle: config.mcp_session_idle,
            max_sessions: config.mcp_max_sessions.max(1),
            max_per_user: config.mcp_max_sessions_per_user.max(1),
            bindings: Mutex::new(HashMap::new()),
        }
    }

    /// The rmcp session manager these bindings describe.
    pub fn manager(&self) -> Arc<LocalSessionManager> {
        self.manager.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Binding>> {
        // A panic while holding this lock leaves the map consistent (every
        // operation is a single insert/remove), so a poisoned lock is usable.
        self.bindings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn owner(&self, session_id: &str, user_id: &str) -> Owner {
        let mut bindings = self.lock();
        match bindings.get_mut(session_id) {
            Some(binding) if binding.user_id == user_id => {
                binding.last_seen = Instant::now();
                Owner::Caller
            }
            Some(_) => Owner::Other,
            None => Owner::Unknown,
        }
    }

    /// Binds a new session to `user_id`; returns the user's own sessions
    /// evicted to stay within its bound, which the caller closes.
    pub(super) fn bind(
        &self,
        session_id: String,
        user_id: String,
    ) -> Result<Vec<String>, SessionsFull> {
        let mut bindings = self.lock();
        let mut evicted = Vec::new();
        loop {
            let mut own = bindings
                .iter()
                .filter(|(_, binding)| binding.user_id == user_id);
            let count = own.clone().count();
            if count < self.max_per_user {
                break;
            }
            let Some(oldest) = own
                .by_ref()
                .min_by_key(|(_, binding)| binding.last_seen)
                .map(|(id, _)| id.clone())
            else {
                break;
            };
            bindings.remove(&oldest);
            evicted.push(oldest);
        }
        if bindings.len() >= self.max_sessions {
            return Err(SessionsFull {
                max: self.max_sessions,
            });
        }
        bindings.insert(
            session_id,
            Binding {
                user_id,
                last_seen: Instant::now(),
            },
        );
        set_gauge(bindings.len());
        Ok(evicted)
    }

    pub(super) fn unbind(&self, session_id: &str) {
        let mut bindings = self.lock();
        bindings.remove(session_id);
        set_gauge(bindings.len());
    }

    /// Expires the sessions unused for the idle time (closing them in rmcp)
    /// and drops the bindings of sessions rmcp no longer has (closed); sets
    /// the gauge to what is left.
    pub async fn prune(&self) {
        let live: HashSet<String> = self
            .manager
            .sessions
            .read()
            .await
            .keys()
            .map(ToString::to_string)
            .collect();
        for session_id in self.expire(Instant::now(), &live) {
            if let Err(error) = self.manager.close_session(&session_id.into()).await {
                tracing::warn!(%error, "closing an expired MCP session failed");
            }
        }
    }

    /// Removes the bindings idle since before `now - idle` or gone from
    /// `live`; returns the idle ones, still open in rmcp.
    fn expire(&self, now: Instant, live: &HashSet<String>) -> Vec<String> {
        let mut bindings = self.lock();
        let mut expired = Vec::new();
        bindings.retain(|id, binding| {
            if !live.contains(id) {
                return false;
            }
            let idle = now.saturating_duration_since(binding.last_seen) >= self.idle;
            if idle {
                expired.push(id.clone());
            }
            !idle
        });
        set_gauge(bindings.len());
        expired
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn set_gauge(sessions: usize) {
    metrics::gauge!(SESSIONS_GAUGE).set(sessions as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bindings(max_sessions: usize, max_per_user: usize) -> SessionBindings {
        SessionBindings::new(&GatewayConfig {
            mcp_max_sessions: max_sessions,
            mcp_max_sessions_per_user: max_per_user,
            ..GatewayConfig::default()
        })
    }

    #[test]
    fn a_user_past_its_bound_loses_its_own_least_recently_used() {
        let bindings = bindings(10, 2);
        assert!(bindings.bind("a".into(), "u1".into()).unwrap().is_empty());
        assert!(bindings.bind("b".into(), "u1".into()).unwrap().is_empty());
        assert!(bindings.bind("x".into(), "u2".into()).unwrap().is_empty());
        assert!(matches!(bindings.owner("a", "u1"), Owner::Caller));
        assert_eq!(
            bindings.bind("c".into(), "u1".into()).unwrap(),
            vec!["b".to_owned()]
        );
        assert!(matches!(bindings.owner("b", "u1"), Owner::Unknown));
        assert!(matches!(bindings.owner("x", "u2"), Owner::Caller));
        assert!(matches!(bindings.owner("a", "u2"), Owner::Other));
        assert_eq!(bindings.len(), 3);
    }

    #[test]
    fn past_the_global_bound_a_new_session_is_refused() {
        let bindings = bindings(2, 5);
        bindings.bind("a".into(), "u1".into()).unwrap();
        bindings.bind("b".into(), "u2".into()).unwrap();
        assert!(bindings.bind("c".into(), "u3".into()).is_err());
        assert!(matches!(bindings.owner("a", "u1"), Owner::Caller));
        assert!(matches!(bindings.owner("b", "u2"), Owner::Caller));
        assert_eq!(bindings.len(), 2);
    }

    #[test]
    fn idle_sessions_expire_and_closed_ones_are_dropped() {
        let bindings = bindings(10, 10);
        bindings.bind("closed".into(), "u1".into()).unwrap();
        bindings.bind("idle".into(), "u1".into()).unwrap();
        let later = Instant::now() + GatewayConfig::default().mcp_session_idle;
        bindings.bind("fresh".into(), "u1".into()).unwrap();
        if let Some(binding) = bindings.lock().get_mut("fresh") {
            binding.last_seen = later;
        }
        let live = HashSet::from(["idle".to_owned(), "fresh".to_owned()]);
        assert_eq!(bindings.expire(later, &live), vec!["idle".to_owned()]);
        assert!(matches!(bindings.owner("closed", "u1"), Owner::Unknown));
        assert!(matches!(bindings.owner("idle", "u1"), Owner::Unknown));
        assert!(matches!(bindings.owner("fresh", "u1"), Owner::Caller));
        assert_eq!(bindings.len(), 1);
    }
}
