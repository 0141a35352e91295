//! Starting and stopping the persona runner's actors over a store: the
//! persistence, dispatcher and supervisor actors, wired to the store-backed
//! sink, ledger and directory.
//!
//! # Shutdown order
//!
//! 1. stop claiming: the gate drains — no tick starts any more (queued ones
//!    give up), while running ticks keep their LLM access;
//! 2. running ticks get `grace` to finish; whatever still runs is cancelled
//!    (its rows are kept and its tick row ends as aborted);
//! 3. the supervisor stops its persona actors;
//! 4. the persistence actor drains its queue (its `post_stop` writes until
//!    the sink took everything).
//!
//! HTTP stops after this, in the caller.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::mcp_client::McpEndpoint;
use actors::runtime::dispatcher::{DispatcherActor, DispatcherArgs, DispatcherMsg, Gate};
use actors::runtime::persistence::{PersistenceActor, PersistenceArgs, PersistenceMsg};
use actors::runtime::persona::{Activity, TickSummary};
use actors::runtime::supervisor::{
    Directory, RestartPolicy, Snapshot, SupervisorActor, SupervisorArgs, SupervisorMsg,
};
use actors::runtime::{CommandRefused, LlmFactory, RuntimeEnv, TickLedger};
use actors::sink::Sink;
use actors::tick::TickSettings;
use anyhow::Context as _;
use catalog::SeedSecret;
use gateway::store::Store;
use ractor::{Actor, ActorRef, RpcReplyPort};

use crate::app_login::ManaLogin;
use crate::wiring::{StoreDirectory, StoreLedger, StoreSink};

/// What the runner needs besides the store.
pub struct SystemSettings {
    /// The app's base URL (login) and its MCP endpoint.
    pub api_url: String,
    pub mcp_url: String,
    pub llms: Arc<dyn LlmFactory>,
    pub seed_secret: SeedSecret,
    /// Ticks running at once.
    pub concurrency: usize,
    /// LLM requests per minute across all personas.
    pub llm_per_minute: u32,
    pub tick: TickSettings,
    pub tick_timeout: Duration,
    /// How long a persona's lease lasts unless renewed (a third of it is the
    /// renewal period). After a SIGKILL, the personas this runner was
    /// ticking wait this long before any runner may tick them again.
    pub lease: Duration,
    /// How often due personas are looked for; `None` only on request.
    pub schedule_every: Option<Duration>,
    /// The kill-switch's state at start (`RUNNER_PAUSED`).
    pub paused: bool,
}

/// Why `start` marks leftover running ticks as aborted.
pub const STALE_TICK_REASON: &str = "the runner stopped while this tick ran";

/// Where the runner reads personas and writes rows and tick rows.
pub struct Backend {
    pub sink: Arc<dyn Sink>,
    pub ledger: Arc<dyn TickLedger>,
    pub directory: Arc<dyn Directory>,
}

impl Backend {
    /// The store as sink, ledger and directory, after marking ticks a crash
    /// left running as aborted. The directory is returned too, for the
    /// control API.
    pub async fn over_store(
        store: Store,
        seed_secret: SeedSecret,
    ) -> anyhow::Result<(Backend, Arc<StoreDirectory>)> {
        let aborted = store
            .abort_stale_ticks(
                gateway::store::now(),
                gateway::store::now(),
                STALE_TICK_REASON,
            )
            .await
            .context("marking ticks a crash left running as aborted")?;
        if aborted > 0 {
            tracing::warn!(aborted, "ticks a previous run left running are now aborted");
        }
        let directory = Arc::new(StoreDirectory {
            store: store.clone(),
            seed_secret,
        });
        let backend = Backend {
            sink: Arc::new(StoreSink(store.clone())),
            ledger: Arc::new(StoreLedger(store)),
            directory: directory.clone(),
        };
        Ok((backend, directory))
    }
}

pub struct RunnerSystem {
    gate: Arc<Gate>,
    pub handles: RunnerHandles,
}

/// Cheap, clonable handles to the running actors (the control API holds one).
#[derive(Clone)]
pub struct RunnerHandles {
    pub supervisor: ActorRef<SupervisorMsg>,
    pub dispatcher: ActorRef<DispatcherMsg>,
    pub persistence: ActorRef<PersistenceMsg>,
}

impl RunnerSystem {
    /// Starts the actors over a store (direct SQL), first marking ticks a
    /// crash left running as aborted.
    pub async fn start(store: Store, settings: SystemSettings) -> anyhow::Result<RunnerSystem> {
        let (backend, _) = Backend::over_store(store, settings.seed_secret.clone()).await?;
        RunnerSystem::start_with(backend, settings).await
    }

    /// Starts the actors over any backend (the store, or the app's internal API).
    pub async fn start_with(
        backend: Backend,
        settings: SystemSettings,
    ) -> anyhow::Result<RunnerSystem> {
        let (persistence, _) = Actor::spawn(
            None,
            PersistenceActor,
            PersistenceArgs {
                sink: backend.sink,
                flush_interval: Duration::from_millis(500),
                retry_backoff: Duration::from_millis(200),
                max_backoff: Duration::from_secs(10),
            },
        )
        .await
        .context("starting the persistence actor")?;
        let gate = Gate::new(
            settings.concurrency,
            settings.llm_per_minute,
            settings.paused,
        );
        let (dispatcher, _) = Actor::spawn(
            None,
            DispatcherActor,
            DispatcherArgs {
                gate: gate.clone(),
                persistence: persistence.clone(),
            },
        )
        .await
        .context("starting the dispatcher")?;
        let env = Arc::new(RuntimeEnv {
            app: Arc::new(ManaLogin::new(&settings.api_url).context("building the app login")?),
            mcp: McpEndpoint::new(settings.mcp_url).context("building the MCP client")?,
            llms: settings.llms,
            ledger: backend.ledger,
            gate: gate.clone(),
            dispatcher: dispatcher.clone(),
            settings: settings.tick,
            tick_timeout: settings.tick_timeout,
            session_margin: Duration::from_secs(120),
            replica_id: format!("runner-{}", uuid::Uuid::new_v4()),
            lease: settings.lease.max(Duration::from_secs(3)),
        });
        let directory = backend.directory;
        let personas = directory
            .personas()
            .await
            .map_err(anyhow::Error::msg)
            .context("reading the personas")?;
        let (supervisor, _) = Actor::spawn(
            None,
            SupervisorActor,
            SupervisorArgs {
                personas,
                env,
                restart: RestartPolicy::default(),
                directory: Some(directory),
                schedule_every: settings.schedule_every,
                refresh_every: settings.schedule_every.map(|_| Duration::from_secs(60)),
            },
        )
        .await
        .context("starting the supervisor")?;
        Ok(RunnerSystem {
            gate,
            handles: RunnerHandles {
                supervisor,
                dispatcher,
                persistence,
            },
        })
    }

    pub async fn snapshot(&self) -> anyhow::Result<Snapshot> {
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
    ) -> anyhow::Result<Vec<(String, TickSummary)>> {
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
        let RunnerHandles {
            supervisor,
            dispatcher,
            persistence,
        } = self.handles.clone();
        // Stop claiming: no tick starts any more, but running ticks keep
        // their LLM access (the kill-switch would stall them) and finish.
        self.gate.drain();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            let ticking = self.snapshot().await.map(|snapshot| {
                snapshot.personas.iter().any(|entry| {
                    entry
                        .status
                        .as_ref()
                        .is_some_and(|s| s.activity == Activity::Ticking)
                })
            });
            if !ticking.unwrap_or(false) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // IMPORTANT: cancelled ticks hand their rows over in tasks; stopping
        // the dispatcher before they are through would drop those rows. The
        // reply comes once every cancelled tick's rows are durable.
        let _ = supervisor
            .call(
                |done| {
                    SupervisorMsg::CancelRunning("the runner is shutting down".into(), Some(done))
                },
                Some(Duration::from_secs(35)),
            )
            .await;
        // Ticks that finished on their own may still be saving.
        let saves_deadline = Instant::now() + Duration::from_secs(30);
        while self.gate.saves_in_flight() > 0 && Instant::now() < saves_deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
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
    }
}

impl RunnerHandles {
    /// One question to the supervisor, answered within 5 s.
    async fn ask_supervisor<T: Send + 'static>(
        &self,
        question: impl FnOnce(RpcReplyPort<T>) -> SupervisorMsg,
    ) -> anyhow::Result<T> {
        match self
            .supervisor
            .call(question, Some(Duration::from_secs(5)))
            .await
        {
            Ok(ractor::rpc::CallResult::Success(answer)) => Ok(answer),
            _ => anyhow::bail!("the supervisor did not answer"),
        }
    }

    pub async fn snapshot(&self) -> anyhow::Result<Snapshot> {
        self.ask_supervisor(SupervisorMsg::GetSnapshot).await
    }

    /// Starts a tick for a persona (id or email); returns the tick id.
    pub async fn start_tick(&self, persona: &str) -> Result<String, CommandRefused> {
        let key = persona.to_owned();
        self.ask_supervisor(|reply| SupervisorMsg::StartTick(key, reply))
            .await
            .map_err(|_| CommandRefused::Unanswered)?
    }

    /// Pauses or resumes one persona (id or email) in the running actor.
    pub async fn set_paused(&self, persona: &str, paused: bool) -> Result<(), CommandRefused> {
        let key = persona.to_owned();
        self.ask_supervisor(|reply| SupervisorMsg::SetPaused(key, paused, reply))
            .await
            .map_err(|_| CommandRefused::Unanswered)?
    }

    pub async fn persistence_status(
        &self,
    ) -> anyhow::Result<actors::runtime::persistence::PersistenceStatus> {
        match self
            .persistence
            .call(PersistenceMsg::GetStatus, Some(Duration::from_secs(5)))
            .await
        {
            Ok(ractor::rpc::CallResult::Success(status)) => Ok(status),
            _ => anyhow::bail!("the persistence actor did not answer"),
        }
    }
}
