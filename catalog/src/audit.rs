//! The rows a tick produces — actions and feedback — and their limits.
//!
//! These are the contract between the runner, which produces them, and the app,
//! which stores them; both depend on this crate, so the shapes live here once.
//! Row ids are deterministic (`{tick_id}-{action_idx}-{tool_name}` and
//! `{tick_id}-{module}`) so that re-sending a batch never doubles a row.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::transcript::TranscriptItem;

/// At most this many action rows are written in one batch.
pub const MAX_ACTIONS_PER_BATCH: usize = 500;
/// At most this many feedback rows are written in one batch.
pub const MAX_FEEDBACK_PER_BATCH: usize = 100;
/// The module of the feedback row that records an unparseable rating reply;
/// it carries the raw text in `notes`, no rating, and is excluded from aggregates.
pub const PARSE_FAILURE_MODULE: &str = "__parse";

/// A module rating, 1 to 5 inclusive.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(try_from = "i64", into = "i64")]
pub struct Rating(u8);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rating {0} is outside 1–5")]
pub struct RatingOutOfRange(pub i64);

impl Rating {
    pub const MIN: i64 = 1;
    pub const MAX: i64 = 5;

    pub fn new(value: i64) -> Result<Rating, RatingOutOfRange> {
        u8::try_from(value)
            .ok()
            .filter(|value| (Rating::MIN..=Rating::MAX).contains(&i64::from(*value)))
            .map(Rating)
            .ok_or(RatingOutOfRange(value))
    }

    /// Forces any number into 1–5; LLM replies are clamped rather than dropped.
    pub fn clamped(value: i64) -> Rating {
        Rating(value.clamp(Rating::MIN, Rating::MAX) as u8)
    }

    pub fn get(self) -> i64 {
        i64::from(self.0)
    }
}

impl TryFrom<i64> for Rating {
    type Error = RatingOutOfRange;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Rating::new(value)
    }
}

impl From<Rating> for i64 {
    fn from(rating: Rating) -> i64 {
        rating.get()
    }
}

impl fmt::Display for Rating {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How a tool call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ActionResult {
    Ok,
    Error,
}

impl ActionResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionResult::Ok => "ok",
            ActionResult::Error => "error",
        }
    }

    pub fn parse(text: &str) -> Option<ActionResult> {
        match text {
            "ok" => Some(ActionResult::Ok),
            "error" => Some(ActionResult::Error),
            _ => None,
        }
    }
}

/// Who a failure is down to: the app under test (its error result, or it
/// could not be reached), the agent (the model made a call that could not be
/// made: arguments that are not JSON or that the tool's listed schema
/// rejects, a tool that does not exist), or the LLM service itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FailedBy {
    App,
    Agent,
    Llm,
}

impl FailedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            FailedBy::App => "app",
            FailedBy::Agent => "agent",
            FailedBy::Llm => "llm",
        }
    }

    pub fn parse(text: &str) -> Option<FailedBy> {
        [FailedBy::App, FailedBy::Agent, FailedBy::Llm]
            .into_iter()
            .find(|who| who.as_str() == text)
    }
}

impl fmt::Display for FailedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One tool call made during a tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionRow {
    pub tick_id: String,
    /// Position of the call within its tick, from 0.
    pub action_idx: u32,
    /// The LLM's id for the call; a `tool_result` is matched to its row by it.
    #[serde(default)]
    pub tool_use_id: Option<String>,
    pub tool_name: String,
    /// First 16 hex digits of the SHA-256 of the canonical JSON input.
    pub input_hash: String,
    pub result: ActionResult,
    #[serde(default)]
    pub error_message: Option<String>,
    /// Whose failure an error row is: `App` for the app's error result,
    /// `Agent` for a call the tick refused to make or whose arguments the
    /// tool's listed schema rejects. `None` on ok rows.
    #[serde(default)]
    pub failed_by: Option<FailedBy>,
    pub latency_ms: u64,
    pub created_at: DateTime<Utc>,
}

impl ActionRow {
    /// The deterministic row id.
    pub fn id(&self) -> String {
        format!("{}-{}-{}", self.tick_id, self.action_idx, self.tool_name)
    }
}

/// One module rating given at the end of a tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedbackRow {
    pub tick_id: String,
    pub module: String,
    /// `None` only for the [`PARSE_FAILURE_MODULE`] row.
    #[serde(default)]
    pub rating: Option<Rating>,
    #[serde(default)]
    pub notes: String,
    pub created_at: DateTime<Utc>,
}

impl FeedbackRow {
    /// The deterministic row id: one rating per module per tick.
    pub fn id(&self) -> String {
        format!("{}-{}", self.tick_id, self.module)
    }

    pub fn is_parse_failure(&self) -> bool {
        self.module == PARSE_FAILURE_MODULE
    }
}

/// Where a tick row stands. Only `Ok` is a success: tools used and
/// ratings stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TickStatus {
    Running,
    /// Tools were used and the modules rated.
    Ok,
    /// The day ended without a single tool call.
    Idle,
    /// Tools were used, but the day was cut short (turns, output tokens or
    /// the context ran out) or its ratings could not be read.
    Incomplete,
    /// The tick could not go on; `error` says why and `failed_by` who.
    Failed,
    /// The runner stopped (cancelled, crash, restart) while the tick was running.
    Aborted,
}

impl TickStatus {
    pub const ALL: [TickStatus; 6] = [
        TickStatus::Running,
        TickStatus::Ok,
        TickStatus::Idle,
        TickStatus::Incomplete,
        TickStatus::Failed,
        TickStatus::Aborted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TickStatus::Running => "running",
            TickStatus::Ok => "ok",
            TickStatus::Idle => "idle",
            TickStatus::Incomplete => "incomplete",
            TickStatus::Failed => "failed",
            TickStatus::Aborted => "aborted",
        }
    }

    pub fn parse(text: &str) -> Option<TickStatus> {
        TickStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
    }
}

/// A tick that is starting (its `persona_ticks` row, status `running`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewTick {
    pub tick_id: String,
    pub persona_id: String,
    pub provider: String,
    pub model: String,
    pub started_at: DateTime<Utc>,
}

/// How a tick ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TickFinish {
    pub status: TickStatus,
    pub error: Option<String>,
    /// Who a failed tick is down to.
    #[serde(default)]
    pub failed_by: Option<FailedBy>,
    /// Why the model's last main-turn answer ended, as the provider said it
    /// (`end_turn`, `tool_use`, `max_tokens`, …).
    #[serde(default)]
    pub finish_reason: Option<String>,
    pub turns: u32,
    pub tokens: TokenUsage,
    /// What the tokens cost in US dollars; `None` when unknown (a hosted
    /// model without a price).
    #[serde(default)]
    pub cost_usd: Option<f64>,
    pub summary: Option<String>,
    pub finished_at: DateTime<Utc>,
    /// What happened in the tick, item by item, already cut and redacted;
    /// stored beside the tick row. Empty when nothing was recorded.
    #[serde(default)]
    pub transcript: Vec<TranscriptItem>,
    /// When the schedule may claim the persona again (its cadence, or its
    /// failure backoff), stored with the tick's end; absent: unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_due_at: Option<DateTime<Utc>>,
}

/// A tick row as stored, read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoredTick {
    pub tick_id: String,
    pub persona_id: String,
    pub status: TickStatus,
    pub error: Option<String>,
    pub failed_by: Option<FailedBy>,
    pub finish_reason: Option<String>,
    pub provider: String,
    pub model: String,
    pub turns: u64,
    pub tokens: TokenUsage,
    /// US dollars; `None` when unknown.
    pub cost_usd: Option<f64>,
    pub summary: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Tokens an LLM reported for one tick.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
}

impl TokenUsage {
    /// Every token counted: input, output, cache reads and writes (what a
    /// token budget counts).
    pub fn total(&self) -> u64 {
        self.input + self.output + self.cache_read + self.cache_write
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rating_accepts_one_to_five_only() {
        for value in 1..=5 {
            assert_eq!(Rating::new(value).unwrap().get(), value);
        }
        for value in [0, 6, -1, 256, i64::MAX] {
            assert_eq!(Rating::new(value), Err(RatingOutOfRange(value)));
        }
        assert_eq!(Rating::clamped(9).get(), 5);
        assert_eq!(Rating::clamped(-3).get(), 1);
    }

    #[test]
    fn rating_rejects_out_of_range_json() {
        let error = serde_json::from_str::<Rating>("7").unwrap_err();
        assert!(
            error.to_string().contains("rating 7 is outside 1–5"),
            "{error}"
        );
    }

    #[test]
    fn row_ids_are_deterministic() {
        let now = Utc::now();
        let action = ActionRow {
            tick_id: "t1".into(),
            action_idx: 3,
            tool_use_id: Some("toolu_1".into()),
            tool_name: "todo.create".into(),
            input_hash: "0123456789abcdef".into(),
            result: ActionResult::Ok,
            error_message: None,
            failed_by: None,
            latency_ms: 12,
            created_at: now,
        };
        assert_eq!(action.id(), "t1-3-todo.create");
        let feedback = FeedbackRow {
            tick_id: "t1".into(),
            module: "todo".into(),
            rating: Some(Rating::clamped(4)),
            notes: String::new(),
            created_at: now,
        };
        assert_eq!(feedback.id(), "t1-todo");
    }

    #[test]
    fn statuses_round_trip() {
        for status in TickStatus::ALL {
            assert_eq!(TickStatus::parse(status.as_str()), Some(status));
        }
        for who in [FailedBy::App, FailedBy::Agent, FailedBy::Llm] {
            assert_eq!(FailedBy::parse(who.as_str()), Some(who));
        }
        assert_eq!(ActionResult::parse("error"), Some(ActionResult::Error));
        assert_eq!(ActionResult::parse("boom"), None);
    }
}
