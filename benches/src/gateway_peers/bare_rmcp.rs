//! The bare rmcp peer: rmcp's Streamable HTTP service in stateful session
//! mode, mounted in axum exactly as the gateway mounts it, with a
//! `ServerHandler` that lists the workload's one tool and answers it with the
//! workload's fixed result.
//!
//! What the gateway adds on top of this is what the comparison isolates:
//! the guard (JWT, space membership, session binding), the policy gate,
//! input validation, the store and decryption. This server validates no
//! input on purpose; it is the floor rmcp itself sets.

use std::sync::Arc;

use anyhow::Context as _;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};

use super::workload::Workload;

/// One tool, one answer; shared by every session (the service's factory
/// hands each session a clone of the `Arc`).
struct Answer {
    tool: Tool,
    result: CallToolResult,
}

#[derive(Clone)]
struct BareServer {
    answer: Arc<Answer>,
}

impl ServerHandler for BareServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("bare-rmcp", env!("CARGO_PKG_VERSION")))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(vec![
            self.answer.tool.clone(),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        if request.name != self.answer.tool.name {
            return Err(McpError::invalid_params(
                format!("unknown tool {:?}", request.name),
                None,
            ));
        }
        Ok(self.answer.result.clone().into())
    }
}

/// The axum router serving the workload at `/mcp`.
pub fn router(workload: Workload) -> anyhow::Result<axum::Router> {
    let result: CallToolResult = serde_json::from_value(workload.result)
        .context("the workload's result is not a CallToolResult")?;
    let answer = Arc::new(Answer {
        tool: Tool::new(
            workload.tool_name,
            workload.description,
            Arc::new(workload.input_schema),
        ),
        result,
    });
    // The defaults the gateway also starts from: loopback hosts allowed,
    // sessions kept in memory.
    let service = StreamableHttpService::new(
        move || {
            Ok(BareServer {
                answer: answer.clone(),
            })
        },
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    Ok(axum::Router::new().nest_service("/mcp", service))
}
