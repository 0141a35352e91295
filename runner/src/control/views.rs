//! The control API's answers as types: what the routes send, what
//! `/openapi.json` describes, and what the dashboard renders — one shape
//! for all three. Field names are camelCase on the wire.

use actors::runtime::budget::{Limit, Spend};
use actors::runtime::dispatcher::DispatcherStatus;
use actors::runtime::persistence::PersistenceStatus;
use actors::runtime::persona::{Activity, CallState, LiveTick, PersonaStatus, TickSummary};
use actors::runtime::supervisor::{ChildHealth, PersonaEntry, PersonaMemory};
use catalog::internal_api::FleetView;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`: the runner answers.
    pub status: &'static str,
    /// No new tick and no new LLM request on this replica.
    pub paused: bool,
    pub personas: usize,
}

/// `GET /supervisor`: this replica, the fleet, every persona actor, the
/// budgets, the dispatcher and persistence.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SupervisorView {
    pub replica: String,
    pub fleet: FleetAnswer,
    pub personas: Vec<PersonaView>,
    pub budget: BudgetView,
    pub dispatcher: DispatcherView,
    pub persistence: PersistenceView,
}

/// The fleet as stored, or why the database could not say.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum FleetAnswer {
    Known(FleetState),
    Unknown { error: String },
}

/// The fleet's kill-switch (with who set it, when and why) and the live
/// replicas.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FleetState {
    pub paused: bool,
    pub switch: Option<SwitchView>,
    pub replicas: Vec<ReplicaView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SwitchView {
    pub paused: bool,
    pub reason: String,
    pub set_by: String,
    pub set_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaView {
    pub id: String,
    pub host: String,
    pub started_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub ticking: u64,
}

impl From<&FleetView> for FleetState {
    fn from(view: &FleetView) -> FleetState {
        FleetState {
            paused: view.paused(),
            switch: view.switch.as_ref().map(|switch| SwitchView {
                paused: switch.paused,
                reason: switch.reason.clone(),
                set_by: switch.set_by.clone(),
                set_at: switch.set_at,
            }),
            replicas: view
                .replicas
                .iter()
                .map(|replica| ReplicaView {
                    id: replica.id.clone(),
                    host: replica.host.clone(),
                    started_at: replica.started_at,
                    last_seen_at: replica.last_seen_at,
                    ticking: replica.ticking,
                })
                .collect(),
        }
    }
}

/// The actor's health as its supervisor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ActorHealth {
    Running,
    Restarting,
    Failed,
}

/// What a persona is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PersonaState {
    Idle,
    Ticking,
    Paused,
}

impl From<Activity> for PersonaState {
    fn from(activity: Activity) -> PersonaState {
        match activity {
            Activity::Idle => PersonaState::Idle,
            Activity::Ticking => PersonaState::Ticking,
            Activity::Paused => PersonaState::Paused,
        }
    }
}

/// One persona: its actor, what it does now, its last tick. The fields
/// from `state` on are `null` while its actor has not reported (restarting
/// or failed).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PersonaView {
    /// The user id.
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub actor: ActorHealth,
    /// Why the actor failed.
    pub failure: Option<String>,
    pub restarts: u32,
    pub state: Option<PersonaState>,
    /// Stored: survives a restart.
    pub paused: Option<bool>,
    pub current_tick: Option<String>,
    pub current_tick_started_at: Option<DateTime<Utc>>,
    /// The running tick's LLM round, from 1.
    pub current_turn: Option<u32>,
    pub current_tool_calls: Option<usize>,
    /// What the running tick waits for: permit, login, rate_slot, llm,
    /// tool, saving.
    pub waiting_for: Option<&'static str>,
    pub last_outcome: Option<TickOutcome>,
    /// Ticks this actor finished since the runner started.
    pub ticks: Option<u64>,
    /// After a failed tick: its backoff ends then.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the schedule may claim it again: its backoff, or its cadence
    /// after the last tick.
    pub next_due_at: Option<DateTime<Utc>>,
    /// `/supervisor` only: the due list names it now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_now: Option<bool>,
    /// `/supervisor` only: what its ticks spent this UTC day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spent_today: Option<SpendView>,
    /// `/personas/{id}` only: the running tick's calls live.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_tick: Option<Option<LiveTickView>>,
}

/// How a persona's last tick ended.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TickOutcome {
    pub tick_id: String,
    /// `ok`, `idle`, `incomplete`, `failed` or `aborted`.
    pub status: &'static str,
    pub error: Option<String>,
    /// Whose failure: `app`, `agent` or `llm`.
    pub failed_by: Option<&'static str>,
    pub turns: u32,
    pub actions: usize,
    /// Calls the app failed.
    pub failed_actions: usize,
    /// Calls the model botched.
    pub agent_errors: usize,
    pub modules_rated: usize,
    pub duration_ms: u64,
    pub finished_at: DateTime<Utc>,
    pub tokens: catalog::TokenUsage,
    /// US dollars; `null` when unknown.
    pub cost_usd: Option<f64>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub next_due_at: Option<DateTime<Utc>>,
}

impl From<&TickSummary> for TickOutcome {
    fn from(summary: &TickSummary) -> TickOutcome {
        TickOutcome {
            tick_id: summary.tick_id.clone(),
            status: summary.status.as_str(),
            error: summary.error.clone(),
            failed_by: summary.failed_by.map(catalog::FailedBy::as_str),
            turns: summary.turns,
            actions: summary.actions,
            failed_actions: summary.failed_actions,
            agent_errors: summary.agent_errors,
            modules_rated: summary.modules_rated,
            duration_ms: summary.duration_ms,
            finished_at: summary.finished_at,
            tokens: summary.tokens,
            cost_usd: summary.cost_usd,
            next_attempt_at: summary.next_attempt_at,
            next_due_at: summary.next_due_at,
        }
    }
}

impl PersonaView {
    pub fn of(entry: &PersonaEntry) -> PersonaView {
        let (actor, failure) = match &entry.health {
            ChildHealth::Running => (ActorHealth::Running, None),
            ChildHealth::Restarting => (ActorHealth::Restarting, None),
            ChildHealth::Failed(reason) => (ActorHealth::Failed, Some(reason.clone())),
        };
        let status: Option<&PersonaStatus> = entry.status.as_ref();
        let progress = status.and_then(|status| status.current_progress);
        let last = status.and_then(|status| status.last.as_ref());
        PersonaView {
            id: entry.persona_id.clone(),
            email: entry.email.clone(),
            name: status.map(|status| status.name.clone()),
            actor,
            failure,
            restarts: entry.restarts,
            state: status.map(|status| status.activity.into()),
            paused: status.map(|status| status.paused),
            current_tick: status.and_then(|status| status.current_tick.clone()),
            current_tick_started_at: status.and_then(|status| status.current_tick_started_at),
            current_turn: progress.map(|progress| progress.turns + 1),
            current_tool_calls: progress.map(|progress| progress.tool_calls),
            waiting_for: progress
                .and_then(|progress| progress.waiting)
                .map(actors::progress::Waiting::as_str),
            last_outcome: last.map(TickOutcome::from),
            ticks: status.map(|status| status.ticks),
            next_attempt_at: last.and_then(|last| last.next_attempt_at),
            next_due_at: last.and_then(|last| last.next_due_at),
            due_now: None,
            spent_today: None,
            running_tick: None,
        }
    }
}

/// A running tick with its calls as the persona's actor sees them now.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveTickView {
    pub tick_id: String,
    pub started_at: DateTime<Utc>,
    pub waiting_for: Option<&'static str>,
    pub turns: u32,
    pub calls: Vec<LiveCallView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveCallView {
    pub tool_use_id: String,
    pub tool: String,
    pub started_at: DateTime<Utc>,
    /// `running`, `ok` or `error`.
    pub state: &'static str,
    pub failed_by: Option<&'static str>,
    pub latency_ms: Option<u64>,
}

impl From<&LiveTick> for LiveTickView {
    fn from(live: &LiveTick) -> LiveTickView {
        LiveTickView {
            tick_id: live.tick_id.clone(),
            started_at: live.started_at,
            waiting_for: live.waiting.map(actors::progress::Waiting::as_str),
            turns: live.turns,
            calls: live
                .calls
                .iter()
                .map(|call| {
                    let (state, failed_by, latency_ms) = match call.state {
                        CallState::Running => ("running", None, None),
                        CallState::Ended {
                            result,
                            failed_by,
                            latency_ms,
                        } => (
                            result.as_str(),
                            failed_by.map(catalog::FailedBy::as_str),
                            Some(latency_ms),
                        ),
                    };
                    LiveCallView {
                        tool_use_id: call.tool_use_id.clone(),
                        tool: call.tool.clone(),
                        started_at: call.started_at,
                        state,
                        failed_by,
                        latency_ms,
                    }
                })
                .collect(),
        }
    }
}

/// Spend against a daily limit.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpendView {
    /// Unknown costs count 0.
    pub usd: f64,
    pub tokens: u64,
    pub limit: LimitView,
}

/// A daily limit; `null` parts are unlimited.
#[derive(Debug, Serialize, ToSchema)]
pub struct LimitView {
    pub usd: Option<f64>,
    pub tokens: Option<u64>,
}

impl From<Limit> for LimitView {
    fn from(limit: Limit) -> LimitView {
        LimitView {
            usd: limit.usd,
            tokens: limit.tokens,
        }
    }
}

impl SpendView {
    pub fn of(spent: Spend, limit: Limit) -> SpendView {
        SpendView {
            usd: spent.usd,
            tokens: spent.tokens,
            limit: limit.into(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BudgetView {
    pub fleet: SpendView,
    pub per_persona: LimitView,
    /// Requests refused because a budget was spent, since start.
    pub refusals: u64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DispatcherView {
    pub paused: bool,
    /// `budget` or `fleet` while paused.
    pub pause_reason: Option<&'static str>,
    pub draining: bool,
    pub concurrency: usize,
    pub permits_in_use: usize,
    pub waiting_for_permit: usize,
    pub llm_requests_per_minute: u32,
    pub replicas: usize,
    pub llm_share_of_this_replica: f64,
    pub waiting_for_rate_slot: usize,
    pub llm_requests: u64,
    pub batched_ticks: usize,
}

impl From<&DispatcherStatus> for DispatcherView {
    fn from(dispatcher: &DispatcherStatus) -> DispatcherView {
        DispatcherView {
            paused: dispatcher.paused,
            pause_reason: dispatcher.paused.then_some(if dispatcher.paused_by_budget {
                "budget"
            } else {
                "fleet"
            }),
            draining: dispatcher.draining,
            concurrency: dispatcher.concurrency,
            permits_in_use: dispatcher.permits_in_use,
            waiting_for_permit: dispatcher.waiting_for_permit,
            llm_requests_per_minute: dispatcher.llm_per_minute,
            replicas: dispatcher.replicas,
            llm_share_of_this_replica: dispatcher.llm_share_per_minute,
            waiting_for_rate_slot: dispatcher.waiting_for_slot,
            llm_requests: dispatcher.llm_requests,
            batched_ticks: dispatcher.batched_ticks,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PersistenceView {
    pub pending_actions: usize,
    pub pending_feedback: usize,
    pub written_actions: u64,
    pub written_feedback: u64,
    pub failed_writes: u64,
    pub rejected_rows: u64,
}

impl From<&PersistenceStatus> for PersistenceView {
    fn from(status: &PersistenceStatus) -> PersistenceView {
        PersistenceView {
            pending_actions: status.pending_actions,
            pending_feedback: status.pending_feedback,
            written_actions: status.written_actions,
            written_feedback: status.written_feedback,
            failed_writes: status.failed_writes,
            rejected_rows: status.rejected_rows,
        }
    }
}

/// `POST /personas/{id}/pause` and `…/resume`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PausedAnswer {
    pub id: String,
    pub email: String,
    pub paused: bool,
}

/// `POST /personas/{id}/tick`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TickStarted {
    pub tick_id: String,
    pub persona: String,
}

/// `POST /pause` and `POST /resume`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SwitchAnswer {
    pub paused: bool,
    /// `false` when the switch could not be stored (503): only this
    /// replica follows it.
    pub fleet_wide: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
}

/// `GET` and `DELETE /personas/{id}/memory`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemoryView {
    pub id: String,
    pub email: String,
    /// "The story so far", as the next day prompt carries it.
    pub memory: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<&PersonaMemory> for MemoryView {
    fn from(memory: &PersonaMemory) -> MemoryView {
        MemoryView {
            id: memory.persona.id.clone(),
            email: memory.persona.email.clone(),
            memory: memory.memory.clone(),
            updated_at: memory.updated_at,
        }
    }
}
