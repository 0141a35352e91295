//! The MCP endpoint at `/mcp`: rmcp's Streamable HTTP service serving the
//! registry's public tools, behind a guard that checks the JWT and the space
//! on every request and binds each session to the user who opened it.
//!
//! - `handler`: the rmcp `ServerHandler` (list and call tools).
//! - `guard`: the axum middleware checking every request.
//! - `sessions`: which user owns which session, bounded per user and in all.
//! - `body`: reads a POST's body within the limit first, so a chunked body
//!   over it is a 413 like a sized one, and invalid JSON is a JSON-RPC
//!   `-32700` error rather than rmcp's 415 text.

mod body;
mod guard;
mod handler;
pub use handler::TRACE_TARGET;
mod sessions;

use std::sync::Arc;

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

pub use body::read_body;
pub use guard::{GuardState, guard};
pub use handler::{CallerContext, McpGateway};
pub use sessions::{SESSIONS_GAUGE, SessionBindings};

use crate::app::AppState;

/// The rmcp service for `/mcp`, over the session manager of the state's
/// `SessionBindings`.
pub fn service(
    state: &Arc<AppState>,
    cancel: CancellationToken,
) -> StreamableHttpService<McpGateway, LocalSessionManager> {
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
    StreamableHttpService::new(
        move || Ok(McpGateway::new(handler_state.clone())),
        state.sessions.manager(),
        config,
    )
}
