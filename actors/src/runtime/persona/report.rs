//! What a persona actor reports: how a tick went ([`TickSummary`]), the
//! operator's view of a persona ([`PersonaStatus`]), and the compact
//! [`PersonaReport`] the supervisor caches.

use std::sync::Arc;

use catalog::{ActionResult, FailedBy, TickStatus, TokenUsage};
use chrono::{DateTime, Utc};

use crate::tick::{PersonaProfile, TickProgress, TickRecord};

/// How a tick went, as operators see it.
#[derive(Debug, Clone, PartialEq)]
pub struct TickSummary {
    pub tick_id: String,
    pub status: TickStatus,
    /// Why the tick is not `ok`.
    pub error: Option<String>,
    /// Who a failed tick is down to.
    pub failed_by: Option<FailedBy>,
    /// LLM rounds answered in the main turn.
    pub turns: u32,
    pub actions: usize,
    /// Calls the app answered with an error.
    pub failed_actions: usize,
    /// Calls the model botched (arguments not JSON, no such tool); the app
    /// never saw them.
    pub agent_errors: usize,
    pub modules_rated: usize,
    pub tokens: TokenUsage,
    /// US dollars; `None` when unknown.
    pub cost_usd: Option<f64>,
    pub duration_ms: u64,
    pub finished_at: DateTime<Utc>,
    /// After a failed tick: the schedule leaves the persona alone until
    /// then (its failure backoff); `None` otherwise.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the schedule may claim the persona again: its backoff, or else
    /// its cadence after this tick. `None` until the tick is saved.
    pub next_due_at: Option<DateTime<Utc>>,
    /// Failed ticks in a row up to this one (the backoff's exponent).
    pub failures_in_row: u32,
}

impl TickSummary {
    /// How a tick went: its outcome, and the counts from what it recorded.
    pub(super) fn new(
        tick_id: String,
        status: TickStatus,
        error: Option<String>,
        failed_by: Option<FailedBy>,
        record: &TickRecord,
        duration_ms: u64,
    ) -> TickSummary {
        TickSummary {
            tick_id,
            status,
            error,
            failed_by,
            turns: record.turns,
            actions: record.actions.len(),
            failed_actions: count_failed(&record.actions, FailedBy::App),
            agent_errors: count_failed(&record.actions, FailedBy::Agent),
            modules_rated: record
                .feedback
                .iter()
                .filter(|row| !row.is_parse_failure())
                .count(),
            tokens: record.tokens,
            cost_usd: record.cost.usd(),
            duration_ms,
            finished_at: Utc::now(),
            next_attempt_at: None,
            next_due_at: None,
            failures_in_row: 0,
        }
    }

    /// One log line per finished tick: `ok` at info, anything else at warn,
    /// with the reason and whose failure it is.
    pub(super) fn log(&self) {
        // tracing fixes an event's level at compile time, so the one list
        // of fields is written once and expanded at each level.
        macro_rules! tick_finished {
            ($event:ident) => {
                tracing::$event!(
                    tick_id = %self.tick_id,
                    status = self.status.as_str(),
                    failed_by = self.failed_by.map(FailedBy::as_str).unwrap_or(""),
                    reason = self.error.as_deref().unwrap_or(""),
                    tools = self.actions,
                    errors = self.failed_actions,
                    agent_errors = self.agent_errors,
                    rated = self.modules_rated,
                    turns = self.turns,
                    cost_usd = self.cost_usd,
                    duration_ms = self.duration_ms,
                    "tick finished"
                )
            };
        }
        if self.status == TickStatus::Ok {
            tick_finished!(info);
        } else {
            tick_finished!(warn);
        }
    }
}

fn count_failed(actions: &[catalog::ActionRow], by: FailedBy) -> usize {
    actions
        .iter()
        .filter(|row| {
            row.result == ActionResult::Error && row.failed_by.unwrap_or(FailedBy::App) == by
        })
        .count()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    Idle,
    Ticking,
    Paused,
}

/// The operator's view of one persona, built by the supervisor's snapshot
/// from a [`PersonaReport`].
#[derive(Debug, Clone, PartialEq)]
pub struct PersonaStatus {
    pub persona_id: String,
    pub email: String,
    pub name: String,
    pub activity: Activity,
    pub paused: bool,
    pub current_tick: Option<String>,
    pub current_tick_started_at: Option<DateTime<Utc>>,
    /// How far the running tick has got.
    pub current_progress: Option<TickProgress>,
    pub last: Option<TickSummary>,
    pub ticks: u64,
}

/// What a persona actor tells its supervisor on every change, and all the
/// supervisor keeps of it: a few words while idle. Who the persona is, the
/// supervisor already holds.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonaReport {
    pub activity: Activity,
    pub paused: bool,
    pub ticks: u64,
    pub current: Option<Box<CurrentTick>>,
    pub last: Option<Arc<TickSummary>>,
}

/// The tick a persona is running.
#[derive(Debug, Clone, PartialEq)]
pub struct CurrentTick {
    pub tick_id: String,
    pub started_at: DateTime<Utc>,
    /// How far it has got, as of the persona's last report.
    pub progress: TickProgress,
}

impl PersonaReport {
    /// The operator's view of the persona `profile` describes.
    pub fn status(&self, profile: &PersonaProfile) -> PersonaStatus {
        PersonaStatus {
            persona_id: profile.id.clone(),
            email: profile.email.clone(),
            name: profile.name.clone(),
            activity: self.activity,
            paused: self.paused,
            current_tick: self.current.as_ref().map(|tick| tick.tick_id.clone()),
            current_tick_started_at: self.current.as_ref().map(|tick| tick.started_at),
            current_progress: self.current.as_ref().map(|tick| tick.progress),
            last: self.last.as_deref().cloned(),
            ticks: self.ticks,
        }
    }
}
