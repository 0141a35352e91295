//! The guard in front of `/mcp`, run on every request (POST, GET, DELETE):
//!
//! 1. the bearer JWT must verify and its user still exist (401 otherwise)
//!    — sessions never authenticate anyone;
//! 2. `X-Mana-Space` must name a space the caller belongs to (403);
//! 3. an `Mcp-Session-Id` must belong to the caller (403 for another user's,
//!    404 for an unknown one);
//! 4. a response that opens a session binds it to the caller (see
//!    `sessions` for the bounds: past the caller's own bound its least
//!    recently used session is closed; past the global one the new session
//!    is closed again and the answer is 503 with `Retry-After`).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use catalog::SPACE_HEADER;
use rmcp::transport::streamable_http_server::{SessionId, SessionManager};

use super::CallerContext;
use super::sessions::{Owner, SessionsFull};
use crate::app::AppState;
use crate::auth::extract::{authenticate, bearer_token};
use crate::http::ApiError;

const SESSION_HEADER: &str = "mcp-session-id";

#[derive(Clone)]
pub struct GuardState {
    pub app: Arc<AppState>,
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
                let bindings = &guard.app.sessions;
                bindings.prune().await;
                match bindings.bind(session_id.clone(), user_id) {
                    Ok(evicted) => {
                        for evicted in evicted {
                            close(guard, evicted).await;
                        }
                    }
                    Err(full) => {
                        close(guard, session_id).await;
                        return sessions_full(full);
                    }
                }
            }
        }
    }
    response
}

async fn close(guard: &GuardState, session_id: String) {
    let session_id: SessionId = session_id.into();
    if let Err(error) = guard
        .app
        .sessions
        .manager()
        .close_session(&session_id)
        .await
    {
        tracing::warn!(%error, "closing an MCP session failed");
    }
}

/// 503 with `Retry-After`: a full server is a temporary condition for the
/// client, unlike a 4xx. Built here rather than as an `ApiError` variant
/// because only this route answers it; the body has the same shape.
fn sessions_full(full: SessionsFull) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "30")],
        axum::Json(serde_json::json!({ "error": full.to_string(), "code": "too_many_sessions" })),
    )
        .into_response()
}
