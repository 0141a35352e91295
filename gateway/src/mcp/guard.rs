//! The guard in front of `/mcp`, run on every request (POST, GET, DELETE):
//!
//! 1. the bearer JWT must verify and its user still exist (401 otherwise)
//!    — sessions never authenticate anyone;
//! 2. `X-Mana-Space` must name a space the caller belongs to (403);
//! 3. an `Mcp-Session-Id` must belong to the caller (403 for another user's,
//!    404 for an unknown one);
//! 4. a response that opens a session binds it to the caller; past the
//!    session bound the least recently used session is closed.
//!
//! rmcp itself knows nothing of users, so the binding lives here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use catalog::SPACE_HEADER;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{SessionId, SessionManager};

use super::CallerContext;
use crate::app::AppState;
use crate::auth::extract::{authenticate, bearer_token};
use crate::http::ApiError;

const SESSION_HEADER: &str = "mcp-session-id";

struct Binding {
    user_id: String,
    last_seen: Instant,
}

/// Which user opened which MCP session.
pub struct SessionBindings {
    /// At most this many bound sessions; binding one more evicts the least
    /// recently used, whose session the guard then closes.
    max: usize,
    bindings: Mutex<HashMap<String, Binding>>,
}

enum Owner {
    Caller,
    Other,
    Unknown,
}

impl SessionBindings {
    pub fn new(max: usize) -> SessionBindings {
        SessionBindings {
            max: max.max(1),
            bindings: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Binding>> {
        // A panic while holding this lock leaves the map consistent (every
        // operation is a single insert/remove), so a poisoned lock is usable.
        self.bindings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn owner(&self, session_id: &str, user_id: &str) -> Owner {
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

    /// Binds a new session; returns the sessions evicted to stay in bounds.
    fn bind(&self, session_id: String, user_id: String, live: Option<&[String]>) -> Vec<String> {
        let mut bindings = self.lock();
        if let Some(live) = live {
            bindings.retain(|id, _| live.contains(id));
        }
        bindings.insert(
            session_id,
            Binding {
                user_id,
                last_seen: Instant::now(),
            },
        );
        let mut evicted = Vec::new();
        while bindings.len() > self.max {
            let Some(oldest) = bindings
                .iter()
                .min_by_key(|(_, binding)| binding.last_seen)
                .map(|(id, _)| id.clone())
            else {
                break;
            };
            bindings.remove(&oldest);
            evicted.push(oldest);
        }
        evicted
    }

    fn unbind(&self, session_id: &str) {
        self.lock().remove(session_id);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone)]
pub struct GuardState {
    pub app: Arc<AppState>,
    pub sessions: Arc<LocalSessionManager>,
}

pub async fn guard(State(guard): State<GuardState>, mut request: Request, next: Next) -> Response {
    match check(&guard, &mut request).await {
        Ok(caller) => respond(&guard, caller, request, next).await,
        Err(error) => error.into_response(),
    }
}

async fn check(guard: &GuardState, request: &mut Request) -> Result<CallerContext, ApiError> {
    let (parts, body) =
        std::mem::replace(request, Request::new(axum::body::Body::empty())).into_parts();
    let outcome = async {
        let token = bearer_token(&parts)?;
        let claims = authenticate(&guard.app, token).await?;
        let space_id = parts
            .headers
            .get(SPACE_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .ok_or_else(|| ApiError::Forbidden("missing X-Mana-Space header: name the space to act in (see GET /api/v1/spaces)".into()))?
            .to_owned();
        if !guard.app.store.is_space_member(&space_id, &claims.sub).await? {
            return Err(ApiError::Forbidden(format!("you are not a member of space {space_id}")));
        }
        let session_id = parts.headers.get(SESSION_HEADER).and_then(|value| value.to_str().ok()).map(str::to_owned);
        if let Some(session_id) = &session_id {
            match guard.app.sessions.owner(session_id, &claims.sub) {
                Owner::Caller => {}
                Owner::Other => return Err(ApiError::Forbidden("this MCP session belongs to another user".into())),
                Owner::Unknown => {
                    return Err(ApiError::NotFound("unknown MCP session; initialize a new one".into()));
                }
            }
        }
        Ok(CallerContext { user_id: claims.sub, space_id, session_id })
    }
    .await;
    *request = Request::from_parts(parts, body);
    outcome
}

async fn respond(
    guard: &GuardState,
    caller: CallerContext,
    mut request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let had_session = caller.session_id.clone();
    let user_id = caller.user_id.clone();
    request.extensions_mut().insert(caller);
    let mut response = next.run(request).await;
    match had_session {
        Some(session_id) if method == Method::DELETE && response.status().is_success() => {
            guard.app.sessions.unbind(&session_id);
            // rmcp answers 202; the official SDKs expect 200 or 204 and log a
            // failure otherwise.
            *response.status_mut() = axum::http::StatusCode::OK;
        }
        Some(_) => {}
        None => {
            let opened = response
                .headers()
                .get(SESSION_HEADER)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            if let Some(session_id) = opened {
                let live: Vec<String> = guard
                    .sessions
                    .sessions
                    .read()
                    .await
                    .keys()
                    .map(|id| id.to_string())
                    .collect();
                for evicted in guard.app.sessions.bind(session_id, user_id, Some(&live)) {
                    let evicted: SessionId = evicted.into();
                    if let Err(error) = guard.sessions.close_session(&evicted).await {
                        tracing::warn!(%error, "closing an evicted MCP session failed");
                    }
                }
            }
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_past_the_bound_evicts_the_least_recently_used() {
        let bindings = SessionBindings::new(2);
        assert!(bindings.bind("a".into(), "u1".into(), None).is_empty());
        assert!(bindings.bind("b".into(), "u2".into(), None).is_empty());
        assert!(matches!(bindings.owner("a", "u1"), Owner::Caller));
        assert_eq!(
            bindings.bind("c".into(), "u3".into(), None),
            vec!["b".to_owned()]
        );
        assert!(matches!(bindings.owner("b", "u2"), Owner::Unknown));
        assert!(matches!(bindings.owner("a", "u2"), Owner::Other));
        assert_eq!(bindings.len(), 2);
    }

    #[test]
    fn sessions_gone_from_the_manager_are_pruned() {
        let bindings = SessionBindings::new(10);
        bindings.bind("old".into(), "u1".into(), None);
        bindings.bind("new".into(), "u1".into(), Some(&["new".to_owned()]));
        assert!(matches!(bindings.owner("old", "u1"), Owner::Unknown));
    }
}
