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
//! - `errors`: [`BackendError`] (what a `TickLedger` or `Directory` answers
//!   when it cannot) and [`CommandRefused`] (why a persona command was not
//!   carried out), matched by variant, never by text.

pub mod conversation;
pub mod dispatcher;
mod errors;
pub mod persistence;
pub mod persona;
pub mod supervisor;

pub use errors::{BackendError, CommandRefused};

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use catalog::{NewTick, TickFinish};

use crate::app_client::AppLogin;
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
    /// Takes or renews the lease on a persona for this replica until
    /// `lease` from now; `false` when another replica holds it.
    async fn claim(
        &self,
        persona_id: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, BackendError>;
    /// Gives the lease back (only the owner's is released).
    async fn release(&self, persona_id: &str, owner: &str) -> Result<(), BackendError>;
    async fn tick_started(&self, tick: &NewTick) -> Result<(), BackendError>;
    async fn tick_ended(&self, tick_id: &str, ended: &TickFinish) -> Result<(), BackendError>;
}

/// What every persona actor shares.
pub struct RuntimeEnv {
    pub app: Arc<dyn AppLogin>,
    pub mcp: crate::mcp_client::McpEndpoint,
    pub llms: Arc<dyn LlmFactory>,
    pub ledger: Arc<dyn TickLedger>,
    pub gate: Arc<dispatcher::Gate>,
    pub dispatcher: ractor::ActorRef<dispatcher::DispatcherMsg>,
    pub settings: TickSettings,
    /// A tick running longer ends as failed; its rows are kept.
    pub tick_timeout: Duration,
    /// Log in again when the token expires within this margin.
    pub session_margin: Duration,
    /// This process's name on leases, unique per replica.
    pub replica_id: String,
    /// How long a lease lasts; a ticking persona renews it every third of
    /// this, so a crashed replica's personas are free again after at most
    /// this long.
    pub lease: Duration,
}
