//! What a running tick tells whoever watches it, as it goes: what it waits
//! for ([`Waiting`]) and each tool call as it starts and ends
//! ([`TickEvent`]). The tick hands them to a [`TickObserver`]; in the actor
//! runtime that is its persona actor, which keeps the running tick's
//! `tool_use_id → call` map and answers `GET /personas/{id}` from it.

use catalog::{ActionResult, FailedBy};

/// What a running tick is waiting for right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// A concurrency permit from the dispatcher (or the kill-switch to lift).
    Permit,
    /// Logging in or opening the MCP session.
    Login,
    /// The dispatcher's LLM rate slot (or the kill-switch to lift).
    RateSlot,
    /// The LLM's answer.
    Llm,
    /// The app's answer to tool calls (or its tool list).
    Tool,
    /// Its rows to become durable.
    Saving,
}

impl Waiting {
    pub fn as_str(self) -> &'static str {
        match self {
            Waiting::Permit => "permit",
            Waiting::Login => "login",
            Waiting::RateSlot => "rate_slot",
            Waiting::Llm => "llm",
            Waiting::Tool => "tool",
            Waiting::Saving => "saving",
        }
    }

    /// In words, for a timeout's reason: "waiting for …".
    pub fn describe(self) -> &'static str {
        match self {
            Waiting::Permit => "a concurrency permit",
            Waiting::Login => "the app's login",
            Waiting::RateSlot => "an LLM rate slot (PERSONA_LLM_RPM)",
            Waiting::Llm => "the LLM",
            Waiting::Tool => "the app's tools",
            Waiting::Saving => "its rows to be stored",
        }
    }

    /// Whose slowness a tick that timed out while waiting for this is down
    /// to; `None` for the runner's own limits.
    pub fn culprit(self) -> Option<FailedBy> {
        match self {
            Waiting::Llm => Some(FailedBy::Llm),
            Waiting::Login | Waiting::Tool => Some(FailedBy::App),
            Waiting::Permit | Waiting::RateSlot | Waiting::Saving => None,
        }
    }
}

/// One thing a running tick did or started waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TickEvent {
    Waiting(Waiting),
    /// The LLM answered a main-turn round; `turns` so far.
    Answered {
        turns: u32,
    },
    /// A tool call went out (or was refused before reaching the app).
    CallStarted {
        tool_use_id: String,
        tool: String,
    },
    /// Its result came back.
    CallEnded {
        tool_use_id: String,
        result: ActionResult,
        failed_by: Option<FailedBy>,
        latency_ms: u64,
    },
}

/// Told about every [`TickEvent`] of one tick, in order. Called on the
/// tick's task: an implementation must not block (the persona actor's only
/// casts a message).
pub trait TickObserver: Send + Sync + 'static {
    fn observe(&self, event: TickEvent);
}
