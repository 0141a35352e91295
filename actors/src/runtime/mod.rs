//! The actor runtime on ractor.
//!
//! ```text
//! supervisor ──spawn_linked──▶ persona actor (one per persona) ──owns──▶ conversation actor
//!      │                         │   ▲ tick events (calls, waits) → tool_use_id → call map
//!      │                         ▼   │
//!      │                     tick task ──ask: permit, rate slot──▶ dispatcher (kill-switch)
//!      │                         └──rows──▶ dispatcher ──batches──▶ persistence ──▶ Sink
//! ```
//!
//! - [`system`]: [`RunnerSystem::start`], the one assembly path, with the
//!   numbers in [`Tuning`], and the shutdown order.
//! - [`supervisor`]: spawns, restarts (with backoff and a restart
//!   intensity) and inspects persona actors; starts the ticks its schedule
//!   passes (`schedule`: heartbeat, then the atomic claim) claimed.
//! - [`persona`]: owns a persona's login session, its conversation actor and
//!   the running tick with its live `tool_use_id → call` map; answers
//!   status, pause and shutdown mid-tick.
//! - [`conversation`]: the persona's LLM conversation endpoint.
//! - [`dispatcher`]: the authority on concurrency permits, LLM rate slots,
//!   the kill-switch and the daily budgets ([`budget`]); batches rows from
//!   many ticks to persistence.
//! - [`persistence`]: batched, retried, drained writes through a `Sink`.
//! - [`fleet`]: what replicas on one database share — the kill-switch,
//!   heartbeats, and each replica's share of the LLM quota.
//! - `errors`: [`BackendError`] (what a `TickLedger` or `Directory` answers
//!   when it cannot) and [`CommandRefused`] (why a persona command was not
//!   carried out), matched by variant, never by text.

pub mod budget;
pub mod conversation;
pub mod dispatcher;
mod errors;
pub mod fleet;
pub mod persistence;
pub mod persona;
mod schedule;
pub mod supervisor;
pub mod system;

pub use errors::{BackendError, CommandRefused};
pub use system::{
    Backend, KillSwitchError, RunnerHandles, RunnerSystem, RuntimeParts, StartError, Tuning,
};

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use catalog::internal_api::{Insights, ListedTick, TickDetail, TickListQuery};
use catalog::{NewTick, TickFinish};
use chrono::{DateTime, Utc};

use crate::app_client::AppLogin;
use crate::llm::Llm;
use crate::tick::{PersonaProfile, TickSettings};

/// Builds the LLM a persona uses for one tick (the scripted simulator is
/// seeded per tick; hosted providers return a shared client).
pub trait LlmFactory: Send + Sync + 'static {
    fn for_tick(&self, persona: &PersonaProfile, tick_id: &str) -> Arc<dyn Llm>;
    /// The provider its LLMs are (`Llm::provider`), for the metrics'
    /// labels known at start.
    fn provider(&self) -> &'static str;
}

/// Where tick rows (`persona_ticks`) and their transcripts are kept.
#[async_trait]
pub trait TickLedger: Send + Sync + 'static {
    /// Takes or renews the lease on a persona for this replica until
    /// `lease` from now; `false` when another replica holds it.
    async fn claim(
        &self,
        persona_id: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, BackendError>;
    /// Renews this replica's lease only while it still holds it unexpired;
    /// `false` when it lapsed (another replica may have ticked the persona).
    async fn renew(
        &self,
        persona_id: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, BackendError>;
    /// Takes, in one atomic step, the leases of up to `limit` personas that
    /// are due, not paused and not leased, the longest-unclaimed first, and
    /// returns their ids: the schedule's claim, so no persona ticks twice in
    /// one due window however many replicas claim at once.
    async fn claim_due(
        &self,
        owner: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<String>, BackendError>;
    /// Gives the lease back (only the owner's is released); `next_due_at`,
    /// when given, is when the schedule may claim the persona again.
    async fn release(
        &self,
        persona_id: &str,
        owner: &str,
        next_due_at: Option<DateTime<Utc>>,
    ) -> Result<(), BackendError>;
    /// Marks ticks whose runner is gone (no runner holds their persona's
    /// lease) as aborted with `reason`; returns how many.
    async fn abort_stale(&self, reason: &str) -> Result<u64, BackendError>;
    async fn tick_started(&self, tick: &NewTick) -> Result<(), BackendError>;
    /// Ends a running tick and stores its transcript beside it.
    async fn tick_ended(&self, tick_id: &str, ended: &TickFinish) -> Result<(), BackendError>;
    /// Everything stored of one tick; [`BackendError::UnknownTick`] when
    /// there is no such tick.
    async fn tick(&self, tick_id: &str) -> Result<TickDetail, BackendError>;
    /// What each persona's ticks started since `since` spent, by persona
    /// id (the day's budgets start from it after a restart).
    async fn spent_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, budget::Spend)>, BackendError>;
    /// Deletes the transcripts of ticks that ended before `before` (the
    /// retention); the tick rows and their rows stay. Returns how many.
    async fn forget_transcripts(&self, before: DateTime<Utc>) -> Result<u64, BackendError>;
    /// The latest ticks (of one persona id, or all), newest first.
    async fn list_ticks(&self, query: &TickListQuery) -> Result<Vec<ListedTick>, BackendError>;
    /// The ratings, tool calls and costs stored since `since`.
    async fn insights(&self, since: DateTime<Utc>) -> Result<Insights, BackendError>;
}

/// Why a tick left `running` by a runner that is gone is marked aborted (at
/// a runner's start, and by every schedule pass).
pub const STALE_TICK_REASON: &str = "the runner running this tick stopped (its lease expired)";

/// What every persona actor shares; built only by [`RunnerSystem::start`].
pub(crate) struct RuntimeEnv {
    pub(crate) app: Arc<dyn AppLogin>,
    pub(crate) mcp: crate::mcp_client::McpEndpoint,
    pub(crate) llms: Arc<dyn LlmFactory>,
    /// The prompts' language and the target's day template.
    pub(crate) language: catalog::target::Language,
    pub(crate) day_template: Option<Arc<str>>,
    pub(crate) ledger: Arc<dyn TickLedger>,
    /// The fleet's kill-switch and the replicas' heartbeats.
    pub(crate) fleet: Arc<dyn fleet::Fleet>,
    /// When this replica started (its heartbeat says so).
    pub(crate) started_at: DateTime<Utc>,
    /// Where each tick reads and writes its persona's memory.
    pub(crate) directory: Arc<dyn supervisor::Directory>,
    /// The authority on permits, rate slots and the kill-switch.
    pub(crate) dispatcher: ractor::ActorRef<dispatcher::DispatcherMsg>,
    /// What the dispatcher last published.
    pub(crate) dispatcher_status: tokio::sync::watch::Receiver<dispatcher::DispatcherStatus>,
    pub(crate) settings: TickSettings,
    /// What LLM tokens cost.
    pub(crate) prices: Arc<crate::llm::pricing::PriceTable>,
    pub(crate) tick_timeout: Duration,
    pub(crate) session_margin: Duration,
    pub(crate) replica_id: String,
    /// How long a lease lasts; a ticking persona renews it every third of
    /// this, so a crashed replica's personas are free again after at most
    /// this long.
    pub(crate) lease: Duration,
}
