//! The MCP endpoint at `/mcp`: rmcp's Streamable HTTP service serving the
//! registry's public tools, behind a guard that checks the JWT and the space
//! on every request and binds each session to the user who opened it.
//!
//! - `handler`: the rmcp `ServerHandler` (list and call tools).
//! - `guard`: the axum middleware and the session bindings.

mod guard;
mod handler;

use std::sync::Arc;

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

pub use guard::{GuardState, SessionBindings, guard};
pub use handler::{CallerContext, McpGateway};

use crate::app::AppState;

/// The rmcp service for `/mcp`, and the session manager the guard closes
/// sessions through.
pub fn service(
    state: &Arc<AppState>,
    cancel: CancellationToken,
) -> (
    StreamableHttpService<McpGateway, LocalSessionManager>,
    Arc<LocalSessionManager>,
) {
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = Some(state.config.mcp_session_idle);
    let sessions = Arc::new(sessions);
    let mut config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(state.config.allowed_hosts.clone())
        .with_max_request_body_bytes(state.config.max_body_bytes)
        .with_cancellation_token(cancel);
    config = if state.config.allowed_origins.is_empty() {
        config
    } else {
        config.with_allowed_origins(state.config.allowed_origins.clone())
    };
    let handler_state = state.clone();
    let service = StreamableHttpService::new(
        move || Ok(McpGateway::new(handler_state.clone())),
        sessions.clone(),
        config,
    );
    (service, sessions)
}
