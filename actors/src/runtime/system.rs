//! The one way to start and stop the actors: [`RunnerSystem::start`] wires
//! the persistence, dispatcher and supervisor actors over a [`Backend`] with
//! the numbers in [`Tuning`]; the daemon, `persona up --once`, the runtime
//! tests and the benchmarks all start it so.
//!
//! # Shutdown order
//!
//! 1. stop claiming: the dispatcher drains — no tick starts any more (queued
//!    ones give up), while running ticks keep getting LLM rate slots;
//! 2. running ticks get `grace` to finish: the dispatcher answers
//!    `WhenIdle` once every permit is back, and a tick holds its permit
//!    until its rows are durable and its tick row has ended;
//! 3. whatever still runs is cancelled (its rows are kept and its tick row
//!    ends as aborted); the supervisor's reply comes once those rows are
//!    durable;
//! 4. the supervisor stops its persona actors, the dispatcher hands its
//!    batch to persistence, and the persistence actor drains its queue (its
//!    `post_stop` writes until the sink took everything).
//!
//! Every step waits on a reply, never on a sleep.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorRef, RpcReplyPort};
use tokio::sync::watch;

use super::budget::{BudgetBook, Budgets, Spend, day_start};
use super::dispatcher::{DispatcherActor, DispatcherArgs, DispatcherMsg, DispatcherStatus};
use super::fleet::Fleet;
use super::persistence::{PersistenceActor, PersistenceArgs, PersistenceMsg, PersistenceStatus};
use super::persona::{LiveTick, TickSummary};
use super::supervisor::{
    Directory, RestartPolicy, Snapshot, SupervisorActor, SupervisorArgs, SupervisorMsg,
};
use super::{BackendError, CommandRefused, LlmFactory, RuntimeEnv, TickLedger};
use crate::app_client::AppLogin;
use crate::llm::pricing::PriceTable;
use crate::mcp_client::McpEndpoint;
use crate::sink::Sink;
use crate::tick::TickSettings;
use catalog::internal_api::{FleetSwitch, FleetView, TickDetail};

/// The numbers a runner runs by. `Default` is the daemon's; tests and
/// benchmarks shorten the timers.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Ticks running at once.
    pub concurrency: usize,
    /// LLM requests per minute across the fleet: each live replica takes
    /// an equal share.
    pub llm_per_minute: u32,
    /// Start with the fleet's kill-switch on (`RUNNER_PAUSED`): set for every
    /// replica, as an operator's pause would be, when none was ever stored;
    /// once an operator set or lifted it, the stored switch rules.
    pub paused: bool,
    pub tick: TickSettings,
    /// What LLM tokens cost (the shipped Claude prices, plus the config's).
    pub prices: PriceTable,
    /// A tick running longer ends as failed; its rows are kept.
    pub tick_timeout: Duration,
    /// Log in again when the token expires within this margin.
    pub session_margin: Duration,
    /// How long a persona's lease lasts unless renewed (a third of it is the
    /// renewal period). After a SIGKILL, the personas this runner was
    /// ticking wait this long before any runner may tick them again.
    pub lease: Duration,
    /// This process's name on leases, unique per replica.
    pub replica_id: String,
    /// How often due personas are looked for; `None` only on request.
    pub schedule_every: Option<Duration>,
    /// How often the persona list is re-read; `None` only on `Refresh`.
    pub refresh_every: Option<Duration>,
    pub restart: RestartPolicy,
    /// How long a tick's rows wait in the dispatcher for other ticks' rows.
    pub row_batch_window: Duration,
    /// How often persistence flushes queued rows below the batch limit.
    pub flush_interval: Duration,
    /// The first retry delay after a failed write; doubles up to `max_backoff`.
    pub retry_backoff: Duration,
    pub max_backoff: Duration,
    /// Daily LLM budgets per persona and for the fleet (none by default).
    pub budgets: Budgets,
    /// How long tick transcripts are kept; older ones are deleted at start
    /// and then every [`RETENTION_CHECK_EVERY`]. `None`: kept forever.
    pub transcript_retention: Option<Duration>,
}

/// How often transcripts past their retention are looked for.
pub const RETENTION_CHECK_EVERY: Duration = Duration::from_secs(3600);

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            concurrency: 4,
            llm_per_minute: 50,
            paused: false,
            tick: TickSettings::default(),
            prices: PriceTable::shipped(),
            tick_timeout: Duration::from_secs(600),
            session_margin: Duration::from_secs(120),
            lease: Duration::from_secs(30),
            replica_id: format!("runner-{}", uuid::Uuid::new_v4()),
            schedule_every: Some(Duration::from_secs(60)),
            refresh_every: Some(Duration::from_secs(60)),
            restart: RestartPolicy::default(),
            row_batch_window: Duration::from_millis(20),
            flush_interval: Duration::from_millis(500),
            retry_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            transcript_retention: Some(Duration::from_secs(30 * 24 * 3600)),
            budgets: Budgets::default(),
        }
    }
}

/// Where the runner reads personas and writes rows and tick rows: the
/// store's, or the app's internal API.
pub struct Backend {
    pub sink: Arc<dyn Sink>,
    pub ledger: Arc<dyn TickLedger>,
    pub directory: Arc<dyn Directory>,
    pub fleet: Arc<dyn Fleet>,
}

/// What the runner talks to besides its backend.
pub struct RuntimeParts {
    /// Logs personas in.
    pub app: Arc<dyn AppLogin>,
    pub mcp: McpEndpoint,
    pub llms: Arc<dyn LlmFactory>,
    pub backend: Backend,
    /// What the personas are told: the target's language and day template.
    pub prompt: catalog::target::PromptSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("reading the personas: {0}")]
    Personas(#[from] BackendError),
    #[error("reading what today's ticks spent (the budgets start from it): {0}")]
    Spending(BackendError),
    #[error("joining the fleet (its kill-switch and replicas): {0}")]
    Fleet(BackendError),
    #[error("starting the {actor} actor: {source}")]
    Spawn {
        actor: &'static str,
        source: ractor::SpawnErr,
    },
}

/// The running actors, and the task forgetting old transcripts.
pub struct RunnerSystem {
    pub handles: RunnerHandles,
    retention: Option<tokio::task::JoinHandle<()>>,
}

/// Cheap, clonable handles to the running actors (the control API holds one).
#[derive(Clone)]
pub struct RunnerHandles {
    pub supervisor: ActorRef<SupervisorMsg>,
    pub dispatcher: ActorRef<DispatcherMsg>,
    pub persistence: ActorRef<PersistenceMsg>,
    board: watch::Receiver<DispatcherStatus>,
    /// Where finished ticks are read back.
    ledger: Arc<dyn TickLedger>,
    /// The fleet's kill-switch and replicas.
    fleet: Arc<dyn Fleet>,
    /// This replica's name on leases and heartbeats.
    pub replica_id: String,
}

/// How long a question to an actor may take before it counts as unanswered.
const ANSWER_LIMIT: Duration = Duration::from_secs(5);

impl RunnerSystem {
    pub async fn start(parts: RuntimeParts, tuning: Tuning) -> Result<RunnerSystem, StartError> {
        let spawn_failed = |actor| move |source| StartError::Spawn { actor, source };
        let (persistence, _) = Actor::spawn(
            None,
            PersistenceActor,
            PersistenceArgs {
                sink: parts.backend.sink,
                flush_interval: tuning.flush_interval,
                retry_backoff: tuning.retry_backoff,
                max_backoff: tuning.max_backoff,
            },
        )
        .await
        .map_err(spawn_failed("persistence"))?;
        let ledger = parts.backend.ledger;
        let budget = todays_budget(ledger.as_ref(), tuning.budgets).await?;
        let fleet = parts.backend.fleet;
        let started_at = chrono::Utc::now();
        let schedule_every = tuning.schedule_every.unwrap_or(Duration::from_secs(60));
        let view = join_fleet(fleet.as_ref(), &tuning, started_at, schedule_every).await?;
        let (board, status) = watch::channel(DispatcherStatus::default());
        let (dispatcher, _) = Actor::spawn(
            None,
            DispatcherActor,
            DispatcherArgs {
                persistence: persistence.clone(),
                concurrency: tuning.concurrency,
                llm_per_minute: tuning.llm_per_minute,
                replicas: view.replicas.len(),
                paused: view.paused(),
                row_batch_window: tuning.row_batch_window,
                budget,
                board,
            },
        )
        .await
        .map_err(spawn_failed("dispatcher"))?;
        let retention = tuning
            .transcript_retention
            .map(|keep| tokio::spawn(forget_old_transcripts(ledger.clone(), keep)));
        // The recorder is its installer's; this describes the runner's
        // metrics to it and registers their known series at zero.
        crate::metrics::describe(&[parts.llms.provider()]);
        let env = Arc::new(RuntimeEnv {
            app: parts.app,
            mcp: parts.mcp,
            llms: parts.llms,
            language: parts.prompt.language,
            day_template: parts.prompt.day.map(Arc::from),
            ledger: ledger.clone(),
            fleet: fleet.clone(),
            started_at,
            directory: parts.backend.directory.clone(),
            dispatcher: dispatcher.clone(),
            dispatcher_status: status.clone(),
            settings: tuning.tick,
            prices: Arc::new(tuning.prices),
            tick_timeout: tuning.tick_timeout,
            session_margin: tuning.session_margin,
            replica_id: tuning.replica_id.clone(),
            lease: tuning.lease.max(Duration::from_secs(1)),
        });
        let directory = parts.backend.directory;
        let personas = directory.personas().await?;
        let (supervisor, _) = Actor::spawn(
            None,
            SupervisorActor,
            SupervisorArgs {
                personas,
                env,
                restart: tuning.restart,
                directory: Some(directory),
                schedule_every: tuning.schedule_every,
                refresh_every: tuning.refresh_every,
            },
        )
        .await
        .map_err(spawn_failed("supervisor"))?;
        Ok(RunnerSystem {
            handles: RunnerHandles {
                supervisor,
                dispatcher,
                persistence,
                board: status,
                ledger,
                fleet,
                replica_id: tuning.replica_id,
            },
            retention,
        })
    }

    pub async fn snapshot(&self) -> Result<Snapshot, CommandRefused> {
        self.handles.snapshot().await
    }

    pub async fn start_tick(&self, persona: &str) -> Result<String, CommandRefused> {
        self.handles.start_tick(persona).await
    }

    /// Cancels every running tick: each ends as aborted with `reason`, its
    /// rows kept.
    pub fn cancel_running(&self, reason: &str) {
        let _ = self
            .handles
            .supervisor
            .cast(SupervisorMsg::CancelRunning(reason.to_owned(), None));
    }

    /// Of the ticks in `waiting` (persona id → tick id), those that have
    /// finished, with their summaries, taken out of `waiting`; one question
    /// to the supervisor about just these personas.
    pub async fn take_finished(
        &self,
        waiting: &mut HashMap<String, String>,
    ) -> Result<Vec<(String, TickSummary)>, CommandRefused> {
        let asked = waiting.keys().cloned().collect();
        let last_ticks = self
            .handles
            .ask_supervisor(|reply| SupervisorMsg::GetLastTicks(asked, reply))
            .await?;
        let mut finished = Vec::new();
        for (persona_id, last) in last_ticks {
            if waiting.get(&persona_id) == Some(&last.tick_id) {
                waiting.remove(&persona_id);
                finished.push((persona_id, TickSummary::clone(&last)));
            }
        }
        Ok(finished)
    }

    /// The shutdown order of this module's doc, with `grace` for running ticks.
    pub async fn shutdown(self, grace: Duration) {
        if let Some(retention) = &self.retention {
            retention.abort();
        }
        let RunnerHandles {
            supervisor,
            dispatcher,
            persistence,
            fleet,
            replica_id,
            ..
        } = self.handles;
        let _ = dispatcher.cast(DispatcherMsg::Drain);
        let finished = dispatcher.call(DispatcherMsg::WhenIdle, Some(grace)).await;
        if !matches!(finished, Ok(ractor::rpc::CallResult::Success(()))) {
            // IMPORTANT: cancelled ticks hand their rows over in tasks; the
            // reply comes once every cancelled tick's rows are durable, so
            // stopping the dispatcher after it loses none.
            let _ = supervisor
                .call(
                    |done| {
                        SupervisorMsg::CancelRunning(
                            "the runner is shutting down".into(),
                            Some(done),
                        )
                    },
                    Some(Duration::from_secs(35)),
                )
                .await;
            // Ticks that ended on their own meanwhile may still be saving.
            let _ = dispatcher
                .call(DispatcherMsg::WhenIdle, Some(Duration::from_secs(30)))
                .await;
        }
        let _ = supervisor
            .stop_and_wait(Some("shutdown".into()), Some(Duration::from_secs(30)))
            .await;
        let _ = dispatcher
            .stop_and_wait(Some("shutdown".into()), Some(Duration::from_secs(5)))
            .await;
        let _ = persistence
            .stop_and_wait(Some("shutdown".into()), Some(Duration::from_secs(120)))
            .await;
        // The others take over this one's share of the LLM quota at their
        // next pass; if this fails, they do once its heartbeat expires.
        if let Err(error) = fleet.leave(&replica_id).await {
            tracing::warn!(%error, "leaving the fleet failed; this replica counts as live until its heartbeat expires");
        }
    }
}

impl RunnerHandles {
    /// One question to the supervisor, answered within [`ANSWER_LIMIT`].
    async fn ask_supervisor<T: Send + 'static>(
        &self,
        question: impl FnOnce(RpcReplyPort<T>) -> SupervisorMsg,
    ) -> Result<T, CommandRefused> {
        match self.supervisor.call(question, Some(ANSWER_LIMIT)).await {
            Ok(ractor::rpc::CallResult::Success(answer)) => Ok(answer),
            _ => Err(CommandRefused::Unanswered),
        }
    }

    pub async fn snapshot(&self) -> Result<Snapshot, CommandRefused> {
        self.ask_supervisor(SupervisorMsg::GetSnapshot).await
    }

    /// The dispatcher's last published status (no question asked).
    pub fn dispatcher_status(&self) -> DispatcherStatus {
        *self.board.borrow()
    }

    /// Starts a tick for a persona (id or email); returns the tick id.
    pub async fn start_tick(&self, persona: &str) -> Result<String, CommandRefused> {
        let key = persona.to_owned();
        self.ask_supervisor(|reply| SupervisorMsg::StartTick(key, reply))
            .await?
    }

    /// Pauses or resumes one persona (id or email) in the running actor.
    pub async fn set_paused(&self, persona: &str, paused: bool) -> Result<(), CommandRefused> {
        let key = persona.to_owned();
        self.ask_supervisor(|reply| SupervisorMsg::SetPaused(key, paused, reply))
            .await?
    }

    /// The fleet's kill-switch: on, no tick starts and no LLM request goes
    /// out. Applied on this replica at once, then stored for the fleet
    /// (every replica follows at its next schedule pass); `by` and `reason`
    /// are kept with it. An error means only this replica follows it.
    pub async fn set_kill_switch(
        &self,
        on: bool,
        by: &str,
        reason: &str,
    ) -> Result<FleetView, KillSwitchError> {
        self.dispatcher
            .cast(if on {
                DispatcherMsg::Pause
            } else {
                DispatcherMsg::Resume
            })
            .map_err(|_| KillSwitchError::Local(CommandRefused::Unanswered))?;
        let switch = FleetSwitch {
            paused: on,
            reason: reason.to_owned(),
            set_by: format!("{by} on {}", self.replica_id),
            set_at: chrono::Utc::now(),
        };
        self.fleet
            .set_switch(&switch)
            .await
            .map_err(KillSwitchError::Fleet)
    }

    /// The fleet's kill-switch and live replicas, read now.
    pub async fn fleet(&self) -> Result<FleetView, BackendError> {
        self.fleet.view().await
    }

    /// The running tick of a persona (id or email), as its actor sees it
    /// now: its calls so far and what it waits for; `None` while idle.
    pub async fn live_tick(&self, persona: &str) -> Result<Option<LiveTick>, CommandRefused> {
        let key = persona.to_owned();
        self.ask_supervisor(|reply| SupervisorMsg::GetLiveTick(key, reply))
            .await?
    }

    /// What each persona (by id) spent today, as the budgets count it.
    pub async fn spending(&self) -> Result<HashMap<String, Spend>, CommandRefused> {
        match self
            .dispatcher
            .call(DispatcherMsg::GetSpending, Some(ANSWER_LIMIT))
            .await
        {
            Ok(ractor::rpc::CallResult::Success(spending)) => Ok(spending),
            _ => Err(CommandRefused::Unanswered),
        }
    }

    /// Everything stored of one tick, its transcript included.
    pub async fn tick(&self, tick_id: &str) -> Result<TickDetail, BackendError> {
        self.ledger.tick(tick_id).await
    }

    /// The latest stored ticks, newest first.
    pub async fn list_ticks(
        &self,
        query: &catalog::internal_api::TickListQuery,
    ) -> Result<Vec<catalog::internal_api::ListedTick>, BackendError> {
        self.ledger.list_ticks(query).await
    }

    /// The ratings, tool calls and costs stored since `since`.
    pub async fn insights(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<catalog::internal_api::Insights, BackendError> {
        self.ledger.insights(since).await
    }

    pub async fn persistence_status(&self) -> Result<PersistenceStatus, CommandRefused> {
        match self
            .persistence
            .call(PersistenceMsg::GetStatus, Some(ANSWER_LIMIT))
            .await
        {
            Ok(ractor::rpc::CallResult::Success(status)) => Ok(status),
            _ => Err(CommandRefused::Unanswered),
        }
    }
}

/// Why the kill-switch was not set (or lifted) for the whole fleet.
#[derive(Debug, thiserror::Error)]
pub enum KillSwitchError {
    #[error("this replica's dispatcher did not take it: {0}")]
    Local(CommandRefused),
    #[error(
        "applied on this replica only, and only until its heartbeat reaches the database again; not stored for the fleet: {0}"
    )]
    Fleet(BackendError),
}

/// The first heartbeat, before any actor starts: the fleet's switch (set
/// here when `RUNNER_PAUSED` asks for it and no switch was ever stored) and
/// the replicas alive with this one.
async fn join_fleet(
    fleet: &dyn Fleet,
    tuning: &Tuning,
    started_at: chrono::DateTime<chrono::Utc>,
    period: Duration,
) -> Result<FleetView, StartError> {
    let beat = super::fleet::beat(&tuning.replica_id, started_at, 0, period);
    let view = fleet.heartbeat(&beat).await.map_err(StartError::Fleet)?;
    if !tuning.paused {
        return Ok(view);
    }
    // Once an operator set or lifted the switch, the stored one rules: a
    // replica restarting with RUNNER_PAUSED must not undo a resume.
    if let Some(switch) = &view.switch {
        if !switch.paused {
            tracing::warn!(
                set_by = %switch.set_by,
                set_at = %switch.set_at,
                reason = %switch.reason,
                "RUNNER_PAUSED is set, but the fleet's kill-switch was lifted since; the stored switch rules"
            );
        }
        return Ok(view);
    }
    let switch = FleetSwitch {
        paused: true,
        reason: "the runner started with RUNNER_PAUSED".to_owned(),
        set_by: tuning.replica_id.clone(),
        set_at: started_at,
    };
    fleet.set_switch(&switch).await.map_err(StartError::Fleet)
}

/// Today's budget book, starting from what today's finished ticks spent
/// (read only when a budget is set).
async fn todays_budget(
    ledger: &dyn TickLedger,
    budgets: Budgets,
) -> Result<BudgetBook, StartError> {
    let now = chrono::Utc::now();
    let spent = if budgets.is_set() {
        ledger
            .spent_since(day_start(now))
            .await
            .map_err(StartError::Spending)?
    } else {
        Vec::new()
    };
    Ok(BudgetBook::new(budgets, now.date_naive(), spent))
}

/// Deletes transcripts older than `keep`, now and every
/// [`RETENTION_CHECK_EVERY`], until aborted. A failed attempt is logged and
/// tried again at the next check: nothing is lost by deleting later.
async fn forget_old_transcripts(ledger: Arc<dyn TickLedger>, keep: Duration) {
    let mut every = tokio::time::interval(RETENTION_CHECK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        every.tick().await;
        let Some(before) = chrono::TimeDelta::from_std(keep)
            .ok()
            .and_then(|keep| chrono::Utc::now().checked_sub_signed(keep))
        else {
            // Longer ago than time can count: nothing is ever old enough.
            return;
        };
        match ledger.forget_transcripts(before).await {
            Ok(0) => {}
            Ok(forgotten) => {
                metrics::counter!(crate::metrics::TRANSCRIPTS_FORGOTTEN_TOTAL).increment(forgotten);
                tracing::info!(forgotten, %before, "forgot tick transcripts past their retention");
            }
            Err(error) => {
                tracing::warn!(%error, "forgetting old transcripts failed; trying again at the next check")
            }
        }
    }
}
