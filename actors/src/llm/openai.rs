//! The OpenAI-compatible Chat Completions provider, aimed at local and
//! self-hosted servers (vLLM, Ollama's `/v1`, llama.cpp `llama-server`) as
//! much as at OpenAI: translating a conversation to
//! `POST {base}/chat/completions`, reading the answer back whatever dialect
//! of tool calls the server speaks, and deciding which failures are worth
//! another attempt.
//!
//! Server quirks handled here (API notes §4.7): `function.arguments` comes
//! as a JSON string (OpenAI, vLLM) or as an object (Ollama, llama.cpp);
//! some servers send arguments that do not parse, or tool calls without an
//! id. None of that fails the turn: the model sees its own mistake in the
//! tool result instead.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use catalog::TokenUsage;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{self, ErrorReport, Failure, Repeats, quote};
use super::retry::RetryPolicy;
use super::{Block, Llm, LlmError, LlmRequest, LlmResponse, Role, StopReason};

/// How long one request may take, connection to last byte. Longer than for
/// a hosted API because a local model on modest hardware can spend minutes
/// on the prompt of a long tool loop.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// An OpenAI-compatible Chat Completions server behind the [`Llm`] trait.
pub struct OpenAiLlm {
    client: reqwest::Client,
    /// Kept only to build the header and to scrub it from messages.
    api_key: Option<String>,
    /// `Bearer <key>` marked sensitive, so reqwest and http redact it in
    /// their own Debug output.
    authorization: Option<HeaderValue>,
    model: String,
    endpoint: String,
    retry: RetryPolicy,
    timeout: Duration,
    /// Numbers the ids made up for tool calls that came without one; unique
    /// for this provider's life, so ids never repeat within a conversation.
    generated_ids: AtomicU64,
}

impl fmt::Debug for OpenAiLlm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiLlm")
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("model", &self.model)
            .field("endpoint", &self.endpoint)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl OpenAiLlm {
    /// A provider for `model` at `base_url`, the part before
    /// `/chat/completions` (e.g. `http://127.0.0.1:11434/v1` for Ollama).
    /// Without a key (or with an empty one) no `Authorization` header is
    /// sent, which is what local servers expect.
    pub fn new(
        api_key: Option<String>,
        model: String,
        base_url: String,
        retry: RetryPolicy,
    ) -> Result<Self, LlmError> {
        let api_key = api_key.filter(|key| !key.trim().is_empty());
        let authorization = match &api_key {
            Some(key) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
                    LlmError::Unauthorized(
                        "the API key contains characters not allowed in an HTTP header \
                         (a stray newline or quote?)"
                            .to_owned(),
                    )
                })?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        let base = base_url.trim().trim_end_matches('/');
        let endpoint = format!("{base}/chat/completions");
        reqwest::Url::parse(&endpoint).map_err(|error| {
            LlmError::Transport(format!(
                "the OpenAI-compatible base URL {base:?} is not a valid URL ({error}); \
                 expected something like \"http://127.0.0.1:11434/v1\""
            ))
        })?;
        Ok(OpenAiLlm {
            client: http::client()?,
            api_key,
            authorization,
            model,
            endpoint,
            retry,
            timeout: DEFAULT_TIMEOUT,
            generated_ids: AtomicU64::new(0),
        })
    }

    /// Sets the per-request timeout (default [`DEFAULT_TIMEOUT`]); a request
    /// that takes longer counts as a failed attempt and is retried.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// One HTTP exchange, classified.
    async fn attempt(&self, body: &str) -> Result<LlmResponse, Failure> {
        let mut request = self
            .client
            .post(&self.endpoint)
            .header(CONTENT_TYPE, "application/json")
            .timeout(self.timeout)
            .body(body.to_owned());
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        let answer = http::exchange(request, self.api_key.as_deref()).await?;
        if answer.status.is_success() {
            return self.parse_response(&answer.body).map_err(http::unreadable);
        }
        Err(self.classify(answer.status, answer.retry_after, &answer.body))
    }

    /// Sorts a non-success answer into "try again" or "give up now".
    fn classify(&self, status: StatusCode, retry_after: Option<Duration>, body: &str) -> Failure {
        let error = ApiError::parse(body);
        let message = error.message_or(status, body);
        // OpenAI answers an exhausted balance with a 429 too; waiting will
        // not fix it.
        if error.is_quota_exhausted() {
            return Failure::Fatal(LlmError::SpendLimit(quote(&self.scrub(&message))));
        }
        let report = ErrorReport {
            message: &message,
            kind: error.kind.as_deref(),
            code: error.code.as_deref(),
        };
        http::classify_status(status, retry_after, &report, self.api_key.as_deref())
    }

    /// Removes the key from text that came from elsewhere (OpenAI quotes
    /// part of a wrong key back; a proxy may echo the whole header).
    fn scrub(&self, text: &str) -> String {
        http::scrub(text, self.api_key.as_deref())
    }

    fn parse_response(&self, body: &str) -> Result<LlmResponse, LlmError> {
        let wire: WireResponse = serde_json::from_str(body).map_err(|error| {
            LlmError::Malformed(self.scrub(&format!(
                "expected a Chat Completions response ({error}); the body starts with {:?}",
                quote(body)
            )))
        })?;
        let Some(choice) = wire.choices.into_iter().next() else {
            return Err(LlmError::Malformed(
                "the Chat Completions response has no choices".to_owned(),
            ));
        };
        let mut content = Vec::new();
        if let Some(text) = choice.message.content.as_ref().and_then(content_text)
            && !text.is_empty()
        {
            content.push(Block::Text(text));
        }
        for call in choice.message.tool_calls.unwrap_or_default() {
            let id = match call.id {
                Some(id) if !id.is_empty() => id,
                _ => format!(
                    "call_{}",
                    self.generated_ids.fetch_add(1, Ordering::Relaxed) + 1
                ),
            };
            content.push(Block::ToolUse {
                id,
                name: call.function.name,
                input: tool_input(call.function.arguments),
            });
        }
        let has_tool_calls = content
            .iter()
            .any(|block| matches!(block, Block::ToolUse { .. }));
        let stop_reason = match choice.finish_reason.as_deref() {
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
        let usage = wire.usage.unwrap_or_default();
        let prompt = usage.prompt_tokens.unwrap_or(0);
        let cached = usage
            .prompt_tokens_details
            .and_then(|details| details.cached_tokens)
            .unwrap_or(0);
        Ok(LlmResponse {
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
        })
    }
}

#[async_trait]
impl Llm for OpenAiLlm {
    fn provider(&self) -> &'static str {
        "openai"
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn complete(&self, request: &LlmRequest) -> Result<LlmResponse, LlmError> {
        // Serialised once, so every retry sends the same bytes (and servers
        // with prefix caching see the same prefix).
        let body = request_body(&self.model, request).to_string();
        // A local server's 500 is mostly an exception the same bytes raise
        // again: a repeat word for word ends the attempts.
        http::send_with_retries("openai", &self.retry, Repeats::GiveUp, |_| {
            self.attempt(&body)
        })
        .await
    }
}

/// The JSON body of a Chat Completions request.
fn request_body(model: &str, request: &LlmRequest) -> Value {
    let mut body = serde_json::Map::new();
    body.insert("model".to_owned(), json!(model));
    // `max_tokens`, not OpenAI's newer `max_completion_tokens`: it is the one
    // vLLM, Ollama and llama.cpp all read.
    body.insert("max_tokens".to_owned(), json!(request.max_tokens));
    body.insert("messages".to_owned(), Value::Array(wire_messages(request)));
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.input_schema,
                    },
                })
            })
            .collect();
        body.insert("tools".to_owned(), Value::Array(tools));
    }
    Value::Object(body)
}

/// Our conversation in wire form: the system prompt as the first message,
/// one `tool` message per tool result right after the assistant message that
/// called the tools (the format has no other place for them), then any user
/// text.
fn wire_messages(request: &LlmRequest) -> Vec<Value> {
    let mut wire = Vec::new();
    if !request.system.is_empty() {
        wire.push(json!({"role": "system", "content": request.system}));
    }
    for message in &request.messages {
        let texts: Vec<&str> = message
            .content
            .iter()
            .filter_map(|block| match block {
                Block::Text(text) if !text.is_empty() => Some(text.as_str()),
                _ => None,
            })
            .collect();
        match message.role {
            Role::Assistant => {
                let tool_calls: Vec<Value> = message
                    .content
                    .iter()
                    .filter_map(|block| match block {
                        Block::ToolUse { id, name, input } => Some(json!({
                            "id": id,
                            "type": "function",
                            "function": {"name": name, "arguments": input.to_string()},
                        })),
                        _ => None,
                    })
                    .collect();
                let content = if !texts.is_empty() {
                    json!(texts.join("\n"))
                } else if tool_calls.is_empty() {
                    // An assistant message needs content or tool calls.
                    json!("")
                } else {
                    Value::Null
                };
                let mut assistant = json!({"role": "assistant", "content": content});
                // Some servers reject an empty `tool_calls` array.
                if !tool_calls.is_empty() {
                    assistant["tool_calls"] = Value::Array(tool_calls);
                }
                wire.push(assistant);
            }
            Role::User => {
                for block in &message.content {
                    if let Block::ToolResult {
                        tool_use_id,
                        content,
                        is_error,
                    } = block
                    {
                        // The format has no error flag, so the model learns
                        // of the failure from the text.
                        let content = if *is_error {
                            format!("ERROR: {content}")
                        } else {
                            content.clone()
                        };
                        wire.push(json!({
                            "role": "tool",
                            "tool_call_id": tool_use_id,
                            "content": content,
                        }));
                    }
                }
                if !texts.is_empty() {
                    wire.push(json!({"role": "user", "content": texts.join("\n")}));
                }
            }
        }
    }
    wire
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
    /// A JSON string (OpenAI, vLLM) or an object (Ollama, llama.cpp).
    #[serde(default)]
    arguments: Option<Value>,
}

#[derive(Deserialize, Default)]
struct WireUsage {
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

/// A tool call's input as an object. Arguments that are not a JSON object
/// are passed on as `{"_raw": …}` so the tool can report the mistake to the
/// model instead of the whole turn failing.
fn tool_input(arguments: Option<Value>) -> Value {
    match arguments {
        None | Some(Value::Null) => json!({}),
        Some(Value::Object(object)) => Value::Object(object),
        Some(Value::String(text)) if text.trim().is_empty() => json!({}),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(object)) => Value::Object(object),
            _ => json!({"_raw": text}),
        },
        Some(other) => json!({"_raw": other.to_string()}),
    }
}

/// The parts of an error body that decide what to do. OpenAI, llama.cpp and
/// llama-cpp-python send `{"error":{"message","type","code"}}`, vLLM a
/// top-level `{"message","type"}`, Ollama sometimes `{"error":"…"}`,
/// FastAPI-based servers `{"detail":"…"}`.
#[derive(Default)]
struct ApiError {
    message: Option<String>,
    kind: Option<String>,
    code: Option<String>,
}

impl ApiError {
    fn parse(body: &str) -> ApiError {
        let Ok(value) = serde_json::from_str::<Value>(body) else {
            return ApiError::default();
        };
        let text = |value: &Value| value.as_str().map(str::to_owned);
        let error = &value["error"];
        ApiError {
            message: text(&error["message"])
                .or_else(|| text(error))
                .or_else(|| text(&value["message"]))
                .or_else(|| text(&value["detail"])),
            kind: text(&error["type"]).or_else(|| text(&value["type"])),
            code: text(&error["code"]),
        }
    }

    /// The server's message, or the body, or the status's name.
    fn message_or(&self, status: StatusCode, body: &str) -> String {
        match &self.message {
            Some(message) if !message.trim().is_empty() => message.clone(),
            _ if !body.trim().is_empty() => body.to_owned(),
            _ => status
                .canonical_reason()
                .unwrap_or("no error message")
                .to_owned(),
        }
    }

    fn is_quota_exhausted(&self) -> bool {
        [&self.kind, &self.code]
            .iter()
            .any(|field| field.as_deref() == Some("insufficient_quota"))
    }
}
