//! What an OpenAI-compatible server answers, read: a whole completion's
//! wire shapes, the raw completion both a whole answer and an event stream
//! (`stream`) come down to, its translation into our blocks, and the error
//! bodies of the servers we meet.

use catalog::TokenUsage;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use super::arguments::{Arguments, read_arguments};
use crate::llm::http::quote;
use crate::llm::{Block, LlmError, LlmResponse, StopReason};

/// A tool call as it came over the wire, before its arguments are read.
pub(super) struct RawCall {
    pub(super) id: Option<String>,
    pub(super) name: String,
    /// A JSON string (OpenAI, vLLM, llama-cpp-python) or an object (Ollama's
    /// native shape, llama.cpp), or nothing.
    pub(super) arguments: Option<Value>,
}

/// A completion as it came over the wire, streamed or whole.
pub(super) struct RawCompletion {
    pub(super) text: Option<String>,
    pub(super) calls: Vec<RawCall>,
    pub(super) finish_reason: Option<String>,
    pub(super) usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireResponse {
    choices: Vec<WireChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    message: WireMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

/// An answer's message. Fields not read here, such as the legacy
/// `function_call` llama-cpp-python sends beside `tool_calls` (fixture 04),
/// are ignored.
#[derive(Deserialize)]
struct WireMessage {
    /// A string, null, or (some servers) an array of content parts.
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Deserialize)]
struct WireToolCall {
    #[serde(default)]
    id: Option<String>,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    arguments: Option<Value>,
}

#[derive(Deserialize, Default)]
pub(super) struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<WirePromptDetails>,
}

#[derive(Deserialize)]
struct WirePromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

/// The text of a message's `content`, whichever shape it has.
fn content_text(content: &Value) -> Option<String> {
    match content {
        Value::String(text) => Some(text.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|part| part["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        _ => None,
    }
}

/// The parts of an error body that decide what to do. OpenAI, llama.cpp and
/// llama-cpp-python send `{"error":{"message","type","code"}}`, vLLM a
/// top-level `{"message","type","code"}` (its code a number), Ollama
/// sometimes `{"error":"…"}`, FastAPI-based servers `{"detail":"…"}`.
#[derive(Default)]
pub(super) struct ApiError {
    pub(super) message: Option<String>,
    pub(super) kind: Option<String>,
    pub(super) code: Option<String>,
    /// A numeric `code`: an HTTP status, as vLLM and llama.cpp send it.
    pub(super) status: Option<u16>,
}

impl ApiError {
    pub(super) fn parse(body: &str) -> ApiError {
        let Ok(value) = serde_json::from_str::<Value>(body) else {
            return ApiError::default();
        };
        let text = |value: &Value| value.as_str().map(str::to_owned);
        let error = &value["error"];
        let code = if error.is_object() {
            &error["code"]
        } else {
            &value["code"]
        };
        ApiError {
            message: text(&error["message"])
                .or_else(|| text(error))
                .or_else(|| text(&value["message"]))
                .or_else(|| text(&value["detail"])),
            kind: text(&error["type"]).or_else(|| text(&value["type"])),
            code: text(code),
            status: code.as_u64().and_then(|code| u16::try_from(code).ok()),
        }
    }

    /// The server's message, or the body, or the status's name.
    pub(super) fn message_or(&self, status: StatusCode, body: &str) -> String {
        match &self.message {
            Some(message) if !message.trim().is_empty() => message.clone(),
            _ if !body.trim().is_empty() => body.to_owned(),
            _ => status
                .canonical_reason()
                .unwrap_or("no error message")
                .to_owned(),
        }
    }

    pub(super) fn is_quota_exhausted(&self) -> bool {
        [&self.kind, &self.code]
            .iter()
            .any(|field| field.as_deref() == Some("insufficient_quota"))
    }
}

/// Reads a whole (not streamed) Chat Completions answer. The error's
/// detail quotes the body; the caller scrubs it.
pub(super) fn parse_completion(body: &str) -> Result<RawCompletion, LlmError> {
    let wire: WireResponse = serde_json::from_str(body).map_err(|error| {
        LlmError::Malformed(format!(
            "expected a Chat Completions response ({error}); the body starts with {:?}",
            quote(body)
        ))
    })?;
    let Some(choice) = wire.choices.into_iter().next() else {
        return Err(LlmError::Malformed(
            "the Chat Completions response has no choices".to_owned(),
        ));
    };
    Ok(RawCompletion {
        text: choice.message.content.as_ref().and_then(content_text),
        calls: choice
            .message
            .tool_calls
            .unwrap_or_default()
            .into_iter()
            .map(|call| RawCall {
                id: call.id,
                name: call.function.name,
                arguments: call.function.arguments,
            })
            .collect(),
        finish_reason: choice.finish_reason,
        usage: wire.usage,
    })
}

/// A completion, streamed or whole, as our response; `new_id` names a tool
/// call that came without an id.
pub(super) fn assemble(raw: RawCompletion, mut new_id: impl FnMut() -> String) -> LlmResponse {
    let mut content = Vec::new();
    if let Some(text) = raw.text
        && !text.is_empty()
    {
        content.push(Block::Text(text));
    }
    for call in raw.calls {
        let id = match call.id {
            Some(id) if !id.is_empty() => id,
            _ => new_id(),
        };
        content.push(match read_arguments(call.arguments.as_ref()) {
            Arguments::Usable(input) => Block::ToolUse {
                id,
                name: call.name,
                input: Value::Object(input),
            },
            Arguments::Invalid { raw, error } => Block::InvalidToolUse {
                id,
                name: call.name,
                arguments: raw,
                error,
            },
        });
    }
    let has_tool_calls = content
        .iter()
        .any(|block| matches!(block, Block::ToolUse { .. } | Block::InvalidToolUse { .. }));
    let stop_reason = match raw.finish_reason.as_deref() {
        Some("tool_calls") | Some("function_call") => StopReason::ToolUse,
        // Some servers (older Ollama) say "stop" even when they called
        // tools; the calls are what matters.
        Some("stop") if has_tool_calls => StopReason::ToolUse,
        Some("stop") => StopReason::EndTurn,
        Some("length") => StopReason::MaxTokens,
        Some(other) => StopReason::Other(other.to_owned()),
        None if has_tool_calls => StopReason::ToolUse,
        None => StopReason::Other("none".to_owned()),
    };
    let usage = raw.usage.unwrap_or_default();
    let prompt = usage.prompt_tokens.unwrap_or(0);
    let cached = usage
        .prompt_tokens_details
        .and_then(|details| details.cached_tokens)
        .unwrap_or(0);
    LlmResponse {
        content,
        stop_reason,
        usage: TokenUsage {
            // `prompt_tokens` includes the cached part; `input` counts
            // uncached tokens only, as Anthropic's does, so the four
            // fields add up to the prompt without counting any twice.
            input: prompt.saturating_sub(cached),
            output: usage.completion_tokens.unwrap_or(0),
            cache_read: cached,
            cache_write: 0,
        },
    }
}
