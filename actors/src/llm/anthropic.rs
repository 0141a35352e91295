//! The Anthropic Messages API provider: translating a conversation to
//! `POST /v1/messages` (with prompt-caching breakpoints), reading the answer
//! back, and deciding which failures are worth another attempt.
//!
//! Wire facts this file relies on (see the API notes, §4): every `tool_use`
//! needs its `tool_result` in the single next user message, results first;
//! the cache is a byte-exact prefix `tools → system → messages` with at most
//! four breakpoints; 429 and 5xx/529 are transient except a 429 that says
//! the spend limit is reached; a prompt that does not fit is a 400 saying
//! "prompt is too long".
//!
//! Requests are not streamed. A tick that is cancelled or times out drops
//! its request, which closes the connection, and that is all the
//! cancellation a hosted API needs from us: unlike a local server, whose
//! abandoned generation would hold up the next request (see `openai`), the
//! API's work on an abandoned request costs the runner nothing but tokens.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use catalog::TokenUsage;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{self, Failure, quote};
use super::retry::RetryPolicy;
use super::{Block, Llm, LlmError, LlmRequest, LlmResponse, Message, Role, StopReason, ToolChoice};

/// The model used when the persona catalog names none.
pub const DEFAULT_MODEL: &str = "claude-sonnet-4-5";
/// Where the API lives unless the caller points elsewhere (a proxy, a fake).
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// The API version every request declares; the wire shapes here follow it.
pub const API_VERSION: &str = "2023-06-01";
/// How long one request may take, connection to last byte. A long tool turn
/// with a few thousand output tokens fits well inside it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// The context window, in tokens, of every current `claude-*` model.
pub const CLAUDE_CONTEXT_WINDOW: u32 = 200_000;

/// Anthropic's Messages API behind the [`Llm`] trait.
pub struct AnthropicLlm {
    client: reqwest::Client,
    /// Kept only to build the header and to scrub it from messages.
    api_key: String,
    /// The same key as a header value marked sensitive, so reqwest and http
    /// redact it in their own Debug output.
    api_key_header: HeaderValue,
    model: String,
    endpoint: String,
    retry: RetryPolicy,
    timeout: Duration,
    /// A context window set by configuration; overrides what the model
    /// name says.
    context_window: Option<u32>,
}

impl fmt::Debug for AnthropicLlm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnthropicLlm")
            .field("api_key", &"[redacted]")
            .field("model", &self.model)
            .field("endpoint", &self.endpoint)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .field("context_window", &self.context_window)
            .finish()
    }
}

impl AnthropicLlm {
    /// A provider for `model`, sending to `base_url` (default
    /// [`DEFAULT_BASE_URL`]; the caller decides whether `ANTHROPIC_BASE_URL`
    /// overrides it).
    pub fn new(
        api_key: String,
        model: String,
        base_url: Option<String>,
        retry: RetryPolicy,
    ) -> Result<Self, LlmError> {
        if api_key.trim().is_empty() {
            return Err(LlmError::Unauthorized(
                "the Anthropic API key is empty; set it to a key from console.anthropic.com"
                    .to_owned(),
            ));
        }
        let mut api_key_header = HeaderValue::from_str(&api_key).map_err(|_| {
            LlmError::Unauthorized(
                "the Anthropic API key contains characters not allowed in an HTTP header \
                 (a stray newline or quote?)"
                    .to_owned(),
            )
        })?;
        api_key_header.set_sensitive(true);
        let base = base_url.unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let base = base.trim().trim_end_matches('/');
        let endpoint = format!("{base}/v1/messages");
        reqwest::Url::parse(&endpoint).map_err(|error| {
            LlmError::Transport(format!(
                "the Anthropic base URL {base:?} is not a valid URL ({error}); \
                 expected something like {DEFAULT_BASE_URL:?}"
            ))
        })?;
        Ok(AnthropicLlm {
            client: http::client()?,
            api_key,
            api_key_header,
            model,
            endpoint,
            retry,
            timeout: DEFAULT_TIMEOUT,
            context_window: None,
        })
    }

    /// Sets the per-request timeout (default [`DEFAULT_TIMEOUT`]); a request
    /// that takes longer counts as a failed attempt and is retried.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the model's context window in tokens; `None` (the default)
    /// leaves it to the model name: [`CLAUDE_CONTEXT_WINDOW`] for `claude-*`
    /// models, unknown for any other.
    pub fn with_context_window(mut self, tokens: Option<u32>) -> Self {
        self.context_window = tokens;
        self
    }

    /// One HTTP exchange, classified.
    async fn attempt(&self, body: &str) -> Result<LlmResponse, Failure> {
        let request = self
            .client
            .post(&self.endpoint)
            .header("x-api-key", self.api_key_header.clone())
            .header("anthropic-version", API_VERSION)
            .header(CONTENT_TYPE, "application/json")
            .timeout(self.timeout)
            .body(body.to_owned());
        let answer = http::exchange(request, Some(&self.api_key)).await?;
        if answer.status.is_success() {
            return parse_response(&answer.body)
                .map_err(|error| http::unreadable(self.scrub_error(error)));
        }
        Err(self.classify(answer.status, answer.retry_after, &answer.body))
    }

    /// Sorts a non-success answer into "try again" or "give up now".
    fn classify(&self, status: StatusCode, retry_after: Option<Duration>, body: &str) -> Failure {
        let error = ApiError::parse(body);
        let message = error.message_or(status, body);
        if error.is_spend_limit(status) {
            return Failure::Fatal(LlmError::SpendLimit(quote(&self.scrub(&message))));
        }
        let report = http::ErrorReport {
            message: &message,
            kind: error.kind.as_deref(),
            code: error.error_code.as_deref(),
        };
        http::classify_status(status, retry_after, &report, Some(&self.api_key))
    }

    /// Removes the key from text that came from elsewhere (a proxy may echo
    /// request headers back in its error page).
    fn scrub(&self, text: &str) -> String {
        http::scrub(text, Some(&self.api_key))
    }

    fn scrub_error(&self, error: LlmError) -> LlmError {
        match error {
            LlmError::Malformed(message) => LlmError::Malformed(self.scrub(&message)),
            other => other,
        }
    }
}

#[async_trait]
impl Llm for AnthropicLlm {
    fn provider(&self) -> &'static str {
        "anthropic"
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn context_window(&self) -> Option<u32> {
        self.context_window.or_else(|| {
            self.model
                .starts_with("claude-")
                .then_some(CLAUDE_CONTEXT_WINDOW)
        })
    }

    async fn complete(&self, request: &LlmRequest) -> Result<LlmResponse, LlmError> {
        // Serialised once, so every retry sends the same bytes (and hits the
        // same cache prefix).
        let body = request_body(&self.model, request).to_string();
        // The API's 500 is generic and documented as transient, so a repeat
        // says nothing about the request.
        http::send_with_retries("anthropic", &self.retry, http::Repeats::Retry, |_| {
            self.attempt(&body)
        })
        .await
    }
}

/// The JSON body of a Messages request. It carries three cache breakpoints
/// (of the four allowed): after the last tool, so every persona's requests
/// share the tool list; after the system prompt, so a persona's rounds
/// share tools and prompt; and after the last block of the last message,
/// so each round reads the conversation so far from the cache the round
/// before wrote.
fn request_body(model: &str, request: &LlmRequest) -> Value {
    let mut body = serde_json::Map::new();
    body.insert("model".to_owned(), json!(model));
    body.insert("max_tokens".to_owned(), json!(request.max_tokens));
    // The API rejects empty text blocks, so an empty prompt is left out.
    if !request.system.is_empty() {
        body.insert(
            "system".to_owned(),
            json!([{
                "type": "text",
                "text": request.system,
                "cache_control": {"type": "ephemeral"},
            }]),
        );
    }
    if !request.tools.is_empty() {
        let last = request.tools.len() - 1;
        let tools: Vec<Value> = request
            .tools
            .iter()
            .enumerate()
            .map(|(index, tool)| {
                let mut wire = json!({
                    "name": tool.name,
                    "description": tool.description,
                    "input_schema": tool.input_schema,
                });
                // One breakpoint after the last tool caches the whole list,
                // which is the stable head of every request in a tick.
                if index == last {
                    wire["cache_control"] = json!({"type": "ephemeral"});
                }
                wire
            })
            .collect();
        body.insert("tools".to_owned(), Value::Array(tools));
        // Auto is the API's default: sending nothing keeps the bytes of
        // every ordinary request as they were.
        if let ToolChoice::Tool(name) = &request.tool_choice {
            body.insert(
                "tool_choice".to_owned(),
                json!({"type": "tool", "name": name}),
            );
        }
    }
    let mut messages = wire_messages(&request.messages);
    if let Some(last_block) = messages
        .last_mut()
        .and_then(|message| message["content"].as_array_mut())
        .and_then(|content| content.last_mut())
    {
        last_block["cache_control"] = json!({"type": "ephemeral"});
    }
    body.insert("messages".to_owned(), Value::Array(messages));
    Value::Object(body)
}

/// Our messages in wire form. Consecutive messages of one role are merged
/// and tool results go first in a user message, because the API wants every
/// result for a turn's tool calls at the start of the single next user
/// message.
fn wire_messages(messages: &[Message]) -> Vec<Value> {
    let mut merged: Vec<(Role, Vec<&Block>)> = Vec::new();
    for message in messages {
        match merged.last_mut() {
            Some((role, blocks)) if *role == message.role => blocks.extend(&message.content),
            _ => merged.push((message.role, message.content.iter().collect())),
        }
    }
    merged
        .into_iter()
        .map(|(role, mut blocks)| {
            if role == Role::User {
                // A stable sort keeps the order within results and within
                // the rest.
                blocks.sort_by_key(|block| !matches!(block, Block::ToolResult { .. }));
            }
            let content: Vec<Value> = blocks.into_iter().filter_map(wire_block).collect();
            json!({
                "role": match role {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                },
                "content": content,
            })
        })
        .collect()
}

fn wire_block(block: &Block) -> Option<Value> {
    match block {
        // The API rejects empty text blocks with a 400.
        Block::Text(text) if text.is_empty() => None,
        Block::Text(text) => Some(json!({"type": "text", "text": text})),
        Block::ToolUse { id, name, input } => Some(json!({
            "type": "tool_use",
            "id": id,
            "name": name,
            "input": input,
        })),
        // The API always sends an object as input, so this block comes only
        // from another provider's history. The API wants an object here, and
        // the tool result that answers the call tells the model what was
        // wrong with its arguments.
        Block::InvalidToolUse { id, name, .. } => Some(json!({
            "type": "tool_use",
            "id": id,
            "name": name,
            "input": {},
        })),
        Block::ToolResult {
            tool_use_id,
            content,
            is_error,
        } => Some(json!({
            "type": "tool_result",
            "tool_use_id": tool_use_id,
            "content": content,
            "is_error": is_error,
        })),
    }
}

#[derive(Deserialize)]
struct WireResponse {
    content: Vec<WireBlock>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum WireBlock {
    #[serde(rename = "text")]
    Text { text: String },
    #[serde(rename = "tool_use")]
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    /// Thinking, server-tool and future block types carry nothing a persona
    /// acts on.
    #[serde(other)]
    Other,
}

// Every count is optional: older models and proxies leave the cache ones
// out, and some send null.
#[derive(Deserialize, Default)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
}

fn parse_response(body: &str) -> Result<LlmResponse, LlmError> {
    let wire: WireResponse = serde_json::from_str(body).map_err(|error| {
        LlmError::Malformed(format!(
            "expected a Messages API response ({error}); the body starts with {:?}",
            quote(body)
        ))
    })?;
    let content = wire
        .content
        .into_iter()
        .filter_map(|block| match block {
            WireBlock::Text { text } => Some(Block::Text(text)),
            WireBlock::ToolUse { id, name, input } => Some(Block::ToolUse {
                id,
                name,
                // A tool without parameters may come back with no input.
                input: if input.is_null() { json!({}) } else { input },
            }),
            WireBlock::Other => None,
        })
        .collect();
    let stop_reason = match wire.stop_reason.as_deref() {
        Some("end_turn") => StopReason::EndTurn,
        Some("tool_use") => StopReason::ToolUse,
        Some("max_tokens") => StopReason::MaxTokens,
        Some(other) => StopReason::Other(other.to_owned()),
        None => StopReason::Other("none".to_owned()),
    };
    let usage = wire.usage.unwrap_or_default();
    Ok(LlmResponse {
        content,
        stop_reason,
        usage: TokenUsage {
            input: usage.input_tokens.unwrap_or(0),
            output: usage.output_tokens.unwrap_or(0),
            cache_read: usage.cache_read_input_tokens.unwrap_or(0),
            cache_write: usage.cache_creation_input_tokens.unwrap_or(0),
        },
    })
}

/// The parts of `{"type":"error","error":{"type","message","details"}}` that
/// decide what to do.
#[derive(Default)]
struct ApiError {
    kind: Option<String>,
    message: Option<String>,
    error_code: Option<String>,
}

impl ApiError {
    /// Reads an error body; anything else (an HTML page from a proxy, an
    /// empty body) leaves every field empty.
    fn parse(body: &str) -> ApiError {
        let Ok(value) = serde_json::from_str::<Value>(body) else {
            return ApiError::default();
        };
        let error = &value["error"];
        let text = |value: &Value| value.as_str().map(str::to_owned);
        ApiError {
            kind: text(&error["type"]),
            message: text(&error["message"]),
            error_code: text(&error["details"]["error_code"]),
        }
    }

    fn message_or(&self, status: StatusCode, body: &str) -> String {
        match (&self.message, &self.kind) {
            (Some(message), _) if !message.trim().is_empty() => message.clone(),
            (_, Some(kind)) => kind.clone(),
            _ if !body.trim().is_empty() => quote(body),
            _ => status
                .canonical_reason()
                .unwrap_or("no error message")
                .to_owned(),
        }
    }

    /// A refusal that waiting will not fix: the organisation or workspace is
    /// out of money. Anthropic says so with `billing_error`, with a
    /// `details.error_code`, or in the message of a 429 or 400.
    fn is_spend_limit(&self, status: StatusCode) -> bool {
        if self.kind.as_deref() == Some("billing_error")
            || self.error_code.as_deref() == Some("enforced_spend_limit_reached")
        {
            return true;
        }
        let message = self.message.as_deref().unwrap_or("").to_lowercase();
        matches!(status.as_u16(), 400 | 429)
            && ["spend limit", "credit", "api usage limits"]
                .iter()
                .any(|phrase| message.contains(phrase))
    }
}
