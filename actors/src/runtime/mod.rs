//! The actor runtime on ractor.
//!
//! ```text
//! supervisor ──spawn_linked──▶ persona actor (one per persona) ──owns──▶ conversation actor
//!      │                            │ tick task (spawned; the mailbox stays free)
//!      │                            ▼
//!      └──────────────────▶ dispatcher (gate: permits, LLM rate, kill-switch) ──▶ persistence ──▶ Sink
//! ```
//!
//! - [`supervisor`]: spawns, restarts (with backoff and a restart
//!   intensity) and inspects persona actors; schedules due personas.
//! - [`persona`]: owns a persona's login session, its conversation actor and
//!   the running tick; answers status, pause and shutdown mid-tick.
//! - [`conversation`]: the persona's LLM conversation endpoint.
//! - [`dispatcher`]: concurrency, LLM rate and the kill-switch.
//! - [`persistence`]: batched, retried, drained writes through a `Sink`.

pub mod conversation;
pub mod dispatcher;
pub mod persistence;
pub mod persona;
pub mod supervisor;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use catalog::{NewTick, TickFinish};

use crate::app_client::AppClient;
use crate::llm::Llm;
use crate::tick::{PersonaProfile, TickSettings};

/// Builds the LLM a persona uses for one tick (the scripted simulator is
/// seeded per tick; hosted providers return a shared client).
pub trait LlmFactory: Send + Sync + 'static {
    fn for_tick(&self, persona: &PersonaProfile, tick_id: &str) -> Arc<dyn Llm>;
}

/// Where tick rows (`persona_ticks`) are kept.
#[async_trait]
pub trait TickLedger: Send + Sync + 'static {
    async fn tick_started(&self, tick: &NewTick) -> Result<(), String>;
    async fn tick_ended(&self, tick_id: &str, ended: &TickFinish) -> Result<(), String>;
}

/// What every persona actor shares.
pub struct RuntimeEnv {
    pub app: AppClient,
    pub mcp_url: String,
    pub llms: Arc<dyn LlmFactory>,
    pub ledger: Arc<dyn TickLedger>,
    pub gate: Arc<dispatcher::Gate>,
    pub dispatcher: ractor::ActorRef<dispatcher::DispatcherMsg>,
    pub settings: TickSettings,
    /// A tick running longer ends as failed; its rows are kept.
    pub tick_timeout: Duration,
    /// Log in again when the token expires within this margin.
    pub session_margin: Duration,
}
