//! The rmcp `ServerHandler`: lists the registry's public tools and calls
//! them for the user and space the guard put into the request.
//!
//! A tool's failure (bad input, not found, denied, rate limited) is an
//! `isError: true` result the agent can read and correct; only an unknown
//! tool or a request without the guard's context is a protocol error.

use std::sync::Arc;
use std::time::Instant;

use registry::{Access, Invoker, PolicyHint, ToolContext, ToolError, ToolSpec};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use tracing::Instrument as _;

use crate::app::AppState;

/// Who is calling and in which space; the guard puts it into the request.
#[derive(Debug, Clone)]
pub struct CallerContext {
    pub user_id: String,
    pub space_id: String,
    pub session_id: Option<String>,
}

#[derive(Clone)]
pub struct McpGateway {
    state: Arc<AppState>,
}

impl McpGateway {
    pub fn new(state: Arc<AppState>) -> McpGateway {
        McpGateway { state }
    }
}

fn caller(context: &RequestContext<RoleServer>) -> Result<CallerContext, McpError> {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<CallerContext>())
        .cloned()
        .ok_or_else(|| {
            McpError::internal_error("the request reached MCP without authentication", None)
        })
}

pub(crate) fn to_mcp_tool(spec: &ToolSpec) -> Tool {
    let annotations = ToolAnnotations::new()
        .read_only(spec.policy == PolicyHint::Read)
        .destructive(spec.policy == PolicyHint::Destructive)
        .idempotent(spec.policy == PolicyHint::Read)
        .open_world(false);
    Tool::new(
        spec.name.to_string(),
        spec.description,
        spec.input_schema.clone(),
    )
    .with_raw_output_schema(spec.output_schema.clone())
    .with_annotations(annotations)
}

impl ServerHandler for McpGateway {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "mana-gateway",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "Tools of the Mana app, acting in the space named by the X-Mana-Space header. \
                 Names are module.verb; errors say which field to fix.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        caller(&context)?;
        Ok(ListToolsResult::with_all_items(
            self.state
                .registry
                .public_tools()
                .map(to_mcp_tool)
                .collect(),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let caller = caller(&context)?;
        let name = request.name.to_string();
        let span = call_span(&name, &request, &context);
        self.call_tool_in(name, request, caller)
            .instrument(span.clone())
            .await
            .inspect(|response| record_outcome(&span, response))
    }
}

/// The target of the MCP server's spans: sent as traces when the process
/// sends any, never logged.
pub const TRACE_TARGET: &str = "mcp_server";

/// The server span of a `tools/call` (OpenTelemetry's MCP conventions),
/// continuing the caller's trace when the request carries one in
/// `params._meta.traceparent` (MCP SEP-414). Its target, `mcp_server`, is
/// sent as traces when the process sends any and never logged.
fn call_span(
    name: &str,
    request: &CallToolRequestParams,
    context: &RequestContext<RoleServer>,
) -> tracing::Span {
    use opentelemetry::propagation::TextMapPropagator as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let span = tracing::info_span!(
        target: TRACE_TARGET,
        "tools/call",
        otel.name = format!("tools/call {name}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
        mcp.method.name = "tools/call",
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = name,
    );
    let traceparent = request
        .meta
        .as_ref()
        .and_then(|meta| meta.get_traceparent())
        .or_else(|| context.meta.get_traceparent());
    if let Some(traceparent) = traceparent {
        let carrier =
            std::collections::HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
        let parent =
            opentelemetry_sdk::propagation::TraceContextPropagator::new().extract(&carrier);
        if let Err(error) = span.set_parent(parent) {
            tracing::debug!(%error, "the caller's trace context was not taken");
        }
    }
    span
}

/// A tool's error result on its span: `error.type` `tool_error`.
fn record_outcome(span: &tracing::Span, response: &CallToolResponse) {
    if let CallToolResponse::Complete(result) = response
        && result.is_error.unwrap_or(false)
    {
        span.record("otel.status_code", "ERROR");
        span.record("error.type", "tool_error");
    }
}

impl McpGateway {
    async fn call_tool_in(
        &self,
        name: String,
        request: CallToolRequestParams,
        caller: CallerContext,
    ) -> Result<CallToolResponse, McpError> {
        // Hidden tools (admin, destructive) answer exactly like unknown ones.
        if !self
            .state
            .registry
            .get(&name)
            .is_some_and(ToolSpec::is_public)
        {
            return Err(McpError::invalid_params(
                format!("unknown tool {name:?}; call tools/list"),
                None,
            ));
        }
        let tool_context = ToolContext::new(
            caller.user_id.clone(),
            caller.space_id.clone(),
            Invoker::Mcp {
                session_id: caller.session_id.clone(),
            },
            Arc::new(self.state.store.clone()),
            self.state.vault.clone(),
        );
        let started = Instant::now();
        let arguments = request.arguments.map(serde_json::Value::Object);
        let outcome = self
            .state
            .registry
            .invoke(&name, arguments, tool_context, Access::default())
            .await;
        let (label, result) = match outcome {
            Ok(output) => {
                let mut result = CallToolResult::structured(output.value);
                for reminder in output.reminders {
                    result.content.push(ContentBlock::text(reminder));
                }
                ("ok", result)
            }
            Err(error) => {
                let label = match error {
                    ToolError::Denied(_) | ToolError::RateLimited { .. } => "denied",
                    _ => "error",
                };
                if matches!(error, ToolError::Internal(_)) {
                    tracing::error!(tool = %name, user_id = %caller.user_id, %error, "tool failed");
                }
                (
                    label,
                    CallToolResult::error(vec![ContentBlock::text(error.to_string())]),
                )
            }
        };
        metrics::histogram!(crate::metrics::TOOL_CALL_SECONDS, "tool" => name, "outcome" => label)
            .record(started.elapsed().as_secs_f64());
        Ok(result.into())
    }
}
