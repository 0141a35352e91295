//! The `Llm` trait and the provider-neutral conversation types.
//!
//! A conversation is a system prompt, alternating user/assistant messages
//! made of blocks (text, tool use, tool result), and tool definitions. Each
//! provider translates these to its wire format; tool names are already in
//! the provider-safe form ([`names::ToolNames`]) by the time they get here.

pub mod anthropic;
mod http;
pub mod names;
pub mod openai;
pub mod pricing;
pub mod rate_gate;
pub mod retry;
pub mod scripted;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use catalog::TokenUsage;
use serde_json::Value;

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDef {
    /// The name as the model sees it (`^[a-zA-Z0-9_-]{1,64}$`).
    pub name: String,
    pub description: String,
    /// A JSON Schema object.
    pub input_schema: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Text(String),
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    /// A tool call whose arguments were not a JSON object, even read
    /// leniently. The tick answers it with a tool error naming `error`
    /// without calling the app, and records it as the agent's mistake; the
    /// provider echoes `arguments` back verbatim in the history.
    InvalidToolUse {
        id: String,
        name: String,
        /// The arguments exactly as the model wrote them.
        arguments: String,
        /// Why they are not usable, for the model and the action row.
        error: String,
    },
    ToolResult {
        tool_use_id: String,
        content: String,
        is_error: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Block>,
}

impl Message {
    pub fn user_text(text: impl Into<String>) -> Message {
        Message {
            role: Role::User,
            content: vec![Block::Text(text.into())],
        }
    }
}

/// What the model may, or must, do with the request's tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides. Sent explicitly: some servers (llama-cpp-python)
    /// treat a request without a choice as "none" and leave the tools out
    /// of the prompt.
    Auto,
    /// The model must call the tool of this (LLM-side) name: structured
    /// output, as in the rating turn's `submit_ratings`.
    Tool(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct LlmRequest {
    pub system: String,
    pub messages: Vec<Message>,
    /// Empty for a turn that must answer in text. Shared: every round of a
    /// tick sends the same tools, and a request is cloned on its way to the
    /// conversation actor.
    pub tools: Arc<[ToolDef]>,
    /// Ignored when `tools` is empty.
    pub tool_choice: ToolChoice,
    pub max_tokens: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    EndTurn,
    ToolUse,
    MaxTokens,
    Other(String),
}

impl StopReason {
    /// The reason in the words the tick row keeps (`end_turn`, `tool_use`,
    /// `max_tokens`, or what the provider said).
    pub fn as_str(&self) -> &str {
        match self {
            StopReason::EndTurn => "end_turn",
            StopReason::ToolUse => "tool_use",
            StopReason::MaxTokens => "max_tokens",
            StopReason::Other(other) => other,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LlmResponse {
    /// Text and tool-use blocks, in the order the model produced them.
    pub content: Vec<Block>,
    pub stop_reason: StopReason,
    pub usage: TokenUsage,
}

impl LlmResponse {
    /// The tool calls of this response whose arguments were usable.
    pub fn tool_uses(&self) -> impl Iterator<Item = (&str, &str, &Value)> {
        self.content.iter().filter_map(|block| match block {
            Block::ToolUse { id, name, input } => Some((id.as_str(), name.as_str(), input)),
            _ => None,
        })
    }

    /// All text blocks joined.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|block| match block {
                Block::Text(text) => Some(text.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Why a request failed, after the provider's retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    #[error("the LLM API rejected the credentials (HTTP 401): {0}; check the API key")]
    Unauthorized(String),
    #[error("the LLM API refused: the account's spend limit is reached: {0}")]
    SpendLimit(String),
    #[error("rate limited by the LLM API (HTTP 429) after {attempts} attempts")]
    RateLimited {
        attempts: u32,
        retry_after: Option<Duration>,
    },
    #[error("the LLM API is unavailable (HTTP {status}) after {attempts} attempts: {message}")]
    Unavailable {
        status: u16,
        attempts: u32,
        /// The server's own words (truncated, secrets scrubbed).
        message: String,
    },
    /// The request itself is wrong: retrying the same bytes cannot help.
    /// Also a 5xx whose body is a validation error, or one that repeats
    /// word for word.
    #[error("the LLM API rejected the request (HTTP {status}): {message}")]
    BadRequest { status: u16, message: String },
    /// The prompt and the requested output do not fit the model's context.
    #[error("the conversation no longer fits the model's context window: {message}")]
    ContextOverflow { message: String },
    #[error("the LLM request timed out after {attempts} attempts")]
    Timeout { attempts: u32 },
    #[error("the LLM API could not be reached: {0}")]
    Transport(String),
    #[error("the LLM API answered something unreadable: {0}")]
    Malformed(String),
    /// The runner's dispatcher is gone (the runner is stopping), so no
    /// request may go out; not the model's failure.
    #[error("the runner is stopping: no LLM rate slot is granted any more")]
    NoRateSlot,
    /// A daily budget is spent (the runner's decision, not the model's
    /// failure); says whose and how much.
    #[error("{0}")]
    BudgetSpent(String),
}

impl LlmError {
    /// A stable name for the kind of failure (a trace's `error.type`).
    pub fn kind(&self) -> &'static str {
        match self {
            LlmError::Unauthorized(_) => "unauthorized",
            LlmError::SpendLimit(_) => "spend_limit",
            LlmError::RateLimited { .. } => "rate_limited",
            LlmError::Unavailable { .. } => "unavailable",
            LlmError::BadRequest { .. } => "bad_request",
            LlmError::ContextOverflow { .. } => "context_overflow",
            LlmError::Timeout { .. } => "timeout",
            LlmError::Transport(_) => "transport",
            LlmError::Malformed(_) => "malformed",
            LlmError::NoRateSlot => "no_rate_slot",
            LlmError::BudgetSpent(_) => "budget_spent",
        }
    }
}

/// A language model (or the scripted simulator) behind one interface.
#[async_trait]
pub trait Llm: Send + Sync {
    /// `anthropic`, `openai` or `scripted`.
    fn provider(&self) -> &'static str;
    fn model(&self) -> &str;
    /// The model's context window in tokens, prompt and output together,
    /// when known (configured, or read from the server); the tick sizes
    /// `max_tokens` and trims old tool results to fit it.
    async fn context_window(&self) -> Option<u32> {
        None
    }
    /// Whether the model runs on this machine or the private network (the
    /// scripted simulator, a local server): without a configured price it
    /// costs nothing, where a hosted model's cost is unknown.
    fn runs_locally(&self) -> bool {
        false
    }
    async fn complete(&self, request: &LlmRequest) -> Result<LlmResponse, LlmError>;
}

impl fmt::Debug for dyn Llm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Llm({}/{})", self.provider(), self.model())
    }
}
