//! The tick as a trace, following OpenTelemetry's GenAI and MCP semantic
//! conventions: `invoke_agent {persona}` per tick, `chat {model}` per LLM
//! request (with `gen_ai.usage.*`), `execute_tool {tool}` per call and
//! inside it the MCP client's `tools/call {tool}`, whose trace context goes
//! to the app in the request's `params._meta.traceparent` (MCP SEP-414);
//! a `gen_ai.evaluation.result` event per module rating.
//!
//! They are `tracing` spans on the [`TARGET`] target, which the log lines
//! leave out; the binary sends them to an OTLP endpoint when one is set
//! (`runner::telemetry`), and without it no layer wants them, so they cost
//! next to nothing. Attributes carry names, ids, counts and error types,
//! never a prompt, an answer or a tool's arguments: those are user content.

use std::collections::HashMap;

use catalog::{FailedBy, Rating};
use opentelemetry::propagation::TextMapPropagator as _;
use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::llm::{LlmError, LlmResponse};

/// The target of every span and event here; the log lines filter it out.
pub const TARGET: &str = "gen_ai";

/// The span of one tick: the persona as the agent.
pub fn invoke_agent(
    persona_name: &str,
    persona_id: &str,
    tick_id: &str,
    provider: &str,
    model: &str,
) -> Span {
    tracing::info_span!(
        target: TARGET,
        "invoke_agent",
        otel.name = format!("invoke_agent {persona_name}"),
        otel.kind = "internal",
        otel.status_code = Empty,
        otel.status_description = Empty,
        error.type = Empty,
        gen_ai.operation.name = "invoke_agent",
        gen_ai.agent.name = persona_name,
        gen_ai.agent.id = persona_id,
        gen_ai.conversation.id = tick_id,
        gen_ai.provider.name = provider,
        gen_ai.request.model = model,
    )
}

/// How the tick ended, on its span: an error status with `error.type` (the
/// tick's outcome, `failed` or `aborted`, and whose failure) unless `ok`.
pub fn tick_ended(span: &Span, status: catalog::TickStatus, failed_by: Option<FailedBy>) {
    if status == catalog::TickStatus::Ok {
        span.record("otel.status_code", "OK");
        return;
    }
    let error_type = match failed_by {
        Some(by) => format!("{}_{}", status.as_str(), by.as_str()),
        None => status.as_str().to_owned(),
    };
    span.record("otel.status_code", "ERROR");
    span.record("otel.status_description", error_type.as_str());
    span.record("error.type", error_type.as_str());
}

/// One module's rating as an evaluation event on the tick's span.
pub fn evaluation(span: &Span, module: &str, rating: Rating) {
    span.in_scope(|| {
        tracing::event!(
            target: TARGET,
            tracing::Level::INFO,
            gen_ai.evaluation.name = "persona_module_rating",
            gen_ai.evaluation.score.value = rating.get() as f64,
            gen_ai.evaluation.score.label = module,
            "gen_ai.evaluation.result"
        );
    });
}

/// One LLM request, inside the tick's span.
pub fn chat(provider: &str, model: &str, max_tokens: u32) -> Span {
    tracing::info_span!(
        target: TARGET,
        "chat",
        otel.name = format!("chat {model}"),
        otel.kind = "client",
        otel.status_code = Empty,
        error.type = Empty,
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = provider,
        gen_ai.request.model = model,
        gen_ai.request.max_tokens = max_tokens,
        gen_ai.response.finish_reasons = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
    )
}

/// What the answer says on its `chat` span, or why there was none.
pub fn chat_ended(span: &Span, answer: &Result<LlmResponse, LlmError>) {
    match answer {
        Ok(response) => {
            // The convention's array of reasons, one per choice: one here.
            span.record(
                "gen_ai.response.finish_reasons",
                format!("[\"{}\"]", response.stop_reason.as_str()),
            );
            span.record(
                "gen_ai.usage.input_tokens",
                response.usage.input + response.usage.cache_read + response.usage.cache_write,
            );
            span.record("gen_ai.usage.output_tokens", response.usage.output);
        }
        Err(error) => {
            span.record("otel.status_code", "ERROR");
            span.record("error.type", error.kind());
        }
    }
}

/// One tool call as the agent makes it.
pub fn execute_tool(tool: &str, call_id: &str) -> Span {
    tracing::info_span!(
        target: TARGET,
        "execute_tool",
        otel.name = format!("execute_tool {tool}"),
        otel.kind = "internal",
        otel.status_code = Empty,
        error.type = Empty,
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = tool,
        gen_ai.tool.call.id = call_id,
        gen_ai.tool.type = "function",
    )
}

/// The MCP request of a tool call (client side).
pub fn tools_call(tool: &str) -> Span {
    tracing::info_span!(
        target: TARGET,
        "tools/call",
        otel.name = format!("tools/call {tool}"),
        otel.kind = "client",
        otel.status_code = Empty,
        error.type = Empty,
        mcp.method.name = "tools/call",
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = tool,
    )
}

/// A failed call on its span: `error.type` is `tool_error` for the tool's
/// own error result, else whose failure it was (`app`, `agent`) or what
/// happened on the way (`timeout`, `transport`).
pub fn failed(span: &Span, error_type: &str) {
    span.record("otel.status_code", "ERROR");
    span.record("error.type", error_type);
}

/// The current span's W3C `traceparent`, when traces are being sent.
pub fn traceparent() -> Option<String> {
    let context = Span::current().context();
    let mut carrier: HashMap<String, String> = HashMap::new();
    opentelemetry_sdk::propagation::TraceContextPropagator::new()
        .inject_context(&context, &mut carrier);
    carrier.remove("traceparent")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_trace_there_is_no_traceparent() {
        assert_eq!(traceparent(), None);
    }
}
