//! The persona actor: one per persona. It owns the persona's login session
//! (logging in again only when the token is near expiry or was rejected),
//! its conversation actor, and the running tick.
//!
//! A tick runs in a task the actor spawns and owns; the task reports back
//! with `TickFinished`. So `GetStatus`, `Pause` and shutdown are answered
//! while an LLM call is in flight. A finished message for a tick that is not
//! the running one is stale and ignored.

use std::sync::Arc;
use std::time::Instant;

use catalog::{ActionResult, TickStatus, TokenUsage};
use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::RuntimeEnv;
use super::conversation::{ConversationActor, ConversationHandle, ConversationMsg};
use super::dispatcher::{DispatcherMsg, GatedLlm};
use super::persistence::PersistenceMsg;
use super::supervisor::SupervisorMsg;
use crate::app_client::{LoginError, Session};
use crate::mcp_client::McpError;
use crate::tick::{PersonaProfile, TickError, TickRecorder, run_tick};
use catalog::{NewTick, TickFinish};

pub struct PersonaActor;

pub struct PersonaArgs {
    pub profile: PersonaProfile,
    /// The derived login password.
    pub password: String,
    pub paused: bool,
    pub env: Arc<RuntimeEnv>,
    /// Told about every status change, so its snapshot never has to ask.
    pub supervisor: Option<ActorRef<SupervisorMsg>>,
}

struct RunningTick {
    tick_id: String,
    started_at: DateTime<Utc>,
    /// Shared with the task, so a cancelled tick's rows can still be saved.
    recorder: TickRecorder,
    /// Aborted by `CancelTick`; dropping it does not cancel.
    task: tokio::task::JoinHandle<()>,
}

pub struct PersonaState {
    profile: PersonaProfile,
    password: String,
    env: Arc<RuntimeEnv>,
    supervisor: Option<ActorRef<SupervisorMsg>>,
    /// Alive only while a tick runs: an idle persona holds no LLM endpoint,
    /// which keeps thousands of idle personas cheap.
    conversation: Option<ActorRef<ConversationMsg>>,
    session: Option<Session>,
    paused: bool,
    running: Option<RunningTick>,
    last: Option<TickSummary>,
    ticks: u64,
}

/// How a tick went, as operators see it.
#[derive(Debug, Clone, PartialEq)]
pub struct TickSummary {
    pub tick_id: String,
    pub status: TickStatus,
    pub error: Option<String>,
    pub actions: usize,
    pub failed_actions: usize,
    pub modules_rated: usize,
    pub tokens: TokenUsage,
    pub duration_ms: u64,
    pub finished_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    Idle,
    Ticking,
    Paused,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PersonaStatus {
    pub persona_id: String,
    pub email: String,
    pub name: String,
    pub activity: Activity,
    pub paused: bool,
    pub current_tick: Option<String>,
    pub current_tick_started_at: Option<DateTime<Utc>>,
    pub last: Option<TickSummary>,
    pub ticks: u64,
}

pub enum PersonaMsg {
    /// Supervisor schedule or operator: start a tick now. Replies with the
    /// tick id, or why not (paused, already ticking). A repeat while ticking
    /// is refused, never queued.
    StartTick(Option<RpcReplyPort<Result<String, String>>>),
    /// Sent by the tick task when it ends, after its rows are durable.
    /// Stale (another tick id) is ignored.
    TickFinished {
        tick_id: String,
        summary: Box<TickSummary>,
        session: Option<Session>,
    },
    /// Operator: no new ticks; a running tick finishes. Repeats are harmless.
    Pause,
    /// Operator: ticks may start again. Repeats are harmless.
    Resume,
    /// Query, answered at once even mid-tick.
    GetStatus(RpcReplyPort<PersonaStatus>),
    /// Kill-switch with cancellation: abort the running tick, keep the rows
    /// it made, end it as aborted. Without a running tick it does nothing.
    CancelTick(String),
}

impl Actor for PersonaActor {
    type Msg = PersonaMsg;
    type State = PersonaState;
    type Arguments = PersonaArgs;

    async fn pre_start(
        &self,
        _me: ActorRef<Self::Msg>,
        args: PersonaArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let state = PersonaState {
            profile: args.profile,
            password: args.password,
            env: args.env,
            supervisor: args.supervisor,
            conversation: None,
            session: None,
            paused: args.paused,
            running: None,
            last: None,
            ticks: 0,
        };
        state.report();
        Ok(state)
    }

    async fn handle(
        &self,
        me: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            PersonaMsg::StartTick(reply) => {
                let answer = state.start_tick(&me).await;
                if let Some(reply) = reply {
                    let _ = reply.send(answer);
                }
            }
            PersonaMsg::TickFinished {
                tick_id,
                summary,
                session,
            } => {
                if state
                    .running
                    .as_ref()
                    .is_some_and(|running| running.tick_id == tick_id)
                {
                    state.running = None;
                    state.end_conversation();
                    state.ticks += 1;
                    state.last = Some(*summary);
                    if session.is_some() {
                        state.session = session;
                    }
                }
            }
            PersonaMsg::CancelTick(reason) => {
                if let Some(running) = state.running.take() {
                    state.end_conversation();
                    running.task.abort();
                    metrics::counter!("persona_ticks_total", "outcome" => TickStatus::Aborted.as_str()).increment(1);
                    state.ticks += 1;
                    let summary = TickSummary {
                        tick_id: running.tick_id.clone(),
                        status: TickStatus::Aborted,
                        error: Some(reason.clone()),
                        actions: running.recorder.action_count(),
                        failed_actions: 0,
                        modules_rated: 0,
                        tokens: TokenUsage::default(),
                        duration_ms: (Utc::now() - running.started_at).num_milliseconds().max(0)
                            as u64,
                        finished_at: Utc::now(),
                    };
                    state.last = Some(summary);
                    let record = running.recorder.take();
                    let ended = TickFinish {
                        status: TickStatus::Aborted,
                        error: Some(reason),
                        turns: record.turns,
                        tokens: record.tokens,
                        summary: record.summary,
                        finished_at: Utc::now(),
                    };
                    let guard = state.env.gate.begin_save();
                    let env = state.env.clone();
                    let persona_id = state.profile.id.clone();
                    let save = save_tick(
                        guard,
                        state.env.clone(),
                        state.profile.id.clone(),
                        running.tick_id,
                        record.actions,
                        record.feedback,
                        ended,
                    );
                    tokio::spawn(async move {
                        save.await;
                        if let Err(error) = env.ledger.release(&persona_id, &env.replica_id).await {
                            tracing::warn!(%error, "releasing the lease failed; it expires by itself");
                        }
                    });
                }
            }
            PersonaMsg::Pause => state.paused = true,
            PersonaMsg::Resume => state.paused = false,
            PersonaMsg::GetStatus(reply) => {
                let _ = reply.send(state.status());
                return Ok(());
            }
        }
        state.report();
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _me: ActorRef<Self::Msg>,
        event: ractor::SupervisionEvent,
        _state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // IMPORTANT: the conversation actor stops after every tick; the
        // default handler would stop this actor with it. Its failure, though,
        // means this persona's state is in doubt: let the supervisor restart it.
        match event {
            ractor::SupervisionEvent::ActorFailed(_, error) => Err(error),
            _ => Ok(()),
        }
    }

    async fn post_stop(
        &self,
        _me: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // A running tick keeps going: its task writes its own rows and tick
        // row, so stopping the actor never loses what the tick produced.
        if let Some(running) = &state.running {
            tracing::info!(persona = %state.profile.email, tick_id = %running.tick_id, "persona actor stopped while ticking");
        }
        Ok(())
    }
}

impl PersonaState {
    fn end_conversation(&mut self) {
        if let Some(conversation) = self.conversation.take() {
            conversation.stop(Some("tick over".into()));
        }
    }

    fn status(&self) -> PersonaStatus {
        PersonaStatus {
            persona_id: self.profile.id.clone(),
            email: self.profile.email.clone(),
            name: self.profile.name.clone(),
            activity: if self.running.is_some() {
                Activity::Ticking
            } else if self.paused {
                Activity::Paused
            } else {
                Activity::Idle
            },
            paused: self.paused,
            current_tick: self.running.as_ref().map(|running| running.tick_id.clone()),
            current_tick_started_at: self.running.as_ref().map(|running| running.started_at),
            last: self.last.clone(),
            ticks: self.ticks,
        }
    }

    fn report(&self) {
        if let Some(supervisor) = &self.supervisor {
            let _ = supervisor.cast(SupervisorMsg::PersonaChanged(Box::new(self.status())));
        }
    }

    async fn start_tick(&mut self, me: &ActorRef<PersonaMsg>) -> Result<String, String> {
        if self.paused {
            return Err(format!("{} is paused", self.profile.email));
        }
        if let Some(running) = &self.running {
            return Err(format!(
                "{} is already running tick {}",
                self.profile.email, running.tick_id
            ));
        }
        let tick_id = uuid::Uuid::now_v7().to_string();
        let llm = self.env.llms.for_tick(&self.profile, &tick_id);
        let conversation = match &self.conversation {
            Some(conversation) => conversation.clone(),
            None => {
                let (conversation, _) =
                    Actor::spawn_linked(None, ConversationActor, (), me.get_cell())
                        .await
                        .map_err(|error| {
                            format!("the conversation actor did not start: {error}")
                        })?;
                self.conversation = Some(conversation.clone());
                conversation
            }
        };
        let handle = ConversationHandle {
            actor: conversation.clone(),
            provider: llm.provider(),
            model: llm.model().to_owned(),
        };
        let gated = Arc::new(GatedLlm {
            inner: llm,
            gate: self.env.gate.clone(),
        });
        let _ = conversation.cast(ConversationMsg::UseLlm(gated));
        let recorder = TickRecorder::default();
        let task = tokio::spawn(tick_task(TickTask {
            recorder: recorder.clone(),
            env: self.env.clone(),
            profile: self.profile.clone(),
            password: self.password.clone(),
            session: self.session.clone(),
            tick_id: tick_id.clone(),
            llm: handle,
            me: me.clone(),
        }));
        self.running = Some(RunningTick {
            tick_id: tick_id.clone(),
            started_at: Utc::now(),
            recorder,
            task,
        });
        Ok(tick_id)
    }
}

struct TickTask {
    recorder: TickRecorder,
    env: Arc<RuntimeEnv>,
    profile: PersonaProfile,
    password: String,
    session: Option<Session>,
    tick_id: String,
    llm: ConversationHandle,
    me: ActorRef<PersonaMsg>,
}

#[derive(Debug, thiserror::Error)]
enum TickFailure {
    #[error("login failed: {0}")]
    Login(#[from] LoginError),
    #[error(transparent)]
    Mcp(#[from] McpError),
    #[error(transparent)]
    Tick(#[from] TickError),
}

async fn tick_task(task: TickTask) {
    let TickTask {
        recorder,
        env,
        profile,
        password,
        session,
        tick_id,
        llm,
        me,
    } = task;
    let Some(_permit) = env.gate.start_tick().await else {
        // Shutting down before the tick got a permit: it never started, so
        // there is no tick row and no rows to save.
        not_started(
            &me,
            tick_id,
            session,
            "the runner shut down before this tick started".into(),
        );
        return;
    };
    // IMPORTANT: the lease is what keeps two replicas from running one
    // persona at once; no tick row or call happens without it.
    match env
        .ledger
        .claim(&profile.id, &env.replica_id, env.lease)
        .await
    {
        Ok(true) => {}
        outcome => {
            let reason = match outcome {
                Ok(_) => "another runner holds this persona's lease".to_owned(),
                Err(error) => format!("the lease could not be taken: {error}"),
            };
            not_started(&me, tick_id, session, reason);
            return;
        }
    }
    // Dropped when the tick ends or its task is aborted (cancelled).
    let renewal = AbortOnDrop(tokio::spawn(renew_lease(env.clone(), profile.id.clone())));
    let started = Instant::now();
    let started_at = Utc::now();
    let started_row = NewTick {
        tick_id: tick_id.clone(),
        persona_id: profile.id.clone(),
        provider: llm.provider.to_owned(),
        model: llm.model.clone(),
        started_at,
    };
    if let Err(error) = env.ledger.tick_started(&started_row).await {
        tracing::warn!(%error, tick_id, "recording the tick start failed");
    }
    let work = async {
        let now = Utc::now();
        let session = match session.filter(|session| session.valid_for(env.session_margin, now)) {
            Some(session) => session,
            None => env.app.login(&profile.email, &password).await?,
        };
        // A rejected token (revoked, key rotated) gets one fresh login.
        let (session, mcp) = match env.mcp.open(&session).await {
            Ok(mcp) => (session, mcp),
            Err(_) => {
                let session = env.app.login(&profile.email, &password).await?;
                let mcp = env.mcp.open(&session).await?;
                (session, mcp)
            }
        };
        let result = run_tick(&profile, &tick_id, &llm, &mcp, env.settings, &recorder, now).await;
        mcp.close().await;
        result?;
        Ok::<Session, TickFailure>(session)
    };
    let (status, error, session) = match tokio::time::timeout(env.tick_timeout, work).await {
        Err(_) => (
            TickStatus::Failed,
            Some(format!(
                "the tick timed out after {} s",
                env.tick_timeout.as_secs()
            )),
            None,
        ),
        Ok(Err(failure)) => (TickStatus::Failed, Some(failure.to_string()), None),
        Ok(Ok(session)) => (TickStatus::Ok, None, Some(session)),
    };
    let record = recorder.take();
    metrics::counter!("persona_ticks_total", "outcome" => status.as_str()).increment(1);
    metrics::histogram!("persona_tick_duration_seconds").record(started.elapsed().as_secs_f64());
    let summary = TickSummary {
        tick_id: tick_id.clone(),
        status,
        error: error.clone(),
        actions: record.actions.len(),
        failed_actions: record
            .actions
            .iter()
            .filter(|row| row.result == ActionResult::Error)
            .count(),
        modules_rated: record
            .feedback
            .iter()
            .filter(|row| !row.is_parse_failure())
            .count(),
        tokens: record.tokens,
        duration_ms: started.elapsed().as_millis() as u64,
        finished_at: Utc::now(),
    };
    let ended = TickFinish {
        status,
        error,
        turns: record.turns,
        tokens: record.tokens,
        summary: record.summary,
        finished_at: summary.finished_at,
    };
    let guard = env.gate.begin_save();
    save_tick(
        guard,
        env.clone(),
        profile.id.clone(),
        tick_id.clone(),
        record.actions,
        record.feedback,
        ended,
    )
    .await;
    drop(renewal);
    if let Err(error) = env.ledger.release(&profile.id, &env.replica_id).await {
        tracing::warn!(%error, tick_id, "releasing the lease failed; it expires by itself");
    }
    let _ = me.cast(PersonaMsg::TickFinished {
        tick_id,
        summary: Box::new(summary),
        session,
    });
}

/// Aborts the task when dropped, so a renewal never outlives its tick.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Keeps the lease of a ticking persona alive until aborted.
async fn renew_lease(env: Arc<RuntimeEnv>, persona_id: String) {
    let mut every = tokio::time::interval(env.lease / 3);
    // IMPORTANT: Skip, so a stalled process does not renew in a burst.
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    every.tick().await;
    loop {
        every.tick().await;
        match env
            .ledger
            .claim(&persona_id, &env.replica_id, env.lease)
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::error!(
                persona_id,
                "another runner took this persona's lease mid-tick"
            ),
            Err(error) => tracing::warn!(%error, persona_id, "renewing the lease failed"),
        }
    }
}

/// Reports a tick that never started (no permit, no lease): aborted, with
/// no tick row and nothing to save.
fn not_started(
    me: &ActorRef<PersonaMsg>,
    tick_id: String,
    session: Option<Session>,
    reason: String,
) {
    let summary = TickSummary {
        tick_id: tick_id.clone(),
        status: TickStatus::Aborted,
        error: Some(reason),
        actions: 0,
        failed_actions: 0,
        modules_rated: 0,
        tokens: TokenUsage::default(),
        duration_ms: 0,
        finished_at: Utc::now(),
    };
    let _ = me.cast(PersonaMsg::TickFinished {
        tick_id,
        summary: Box::new(summary),
        session,
    });
}

/// Hands a tick's rows to persistence, waits until they are durable, then
/// records how the tick ended — in that order, so a finished tick row always
/// has its rows.
async fn save_tick(
    _guard: super::dispatcher::SaveGuard,
    env: Arc<RuntimeEnv>,
    persona_id: String,
    tick_id: String,
    actions: Vec<catalog::ActionRow>,
    feedback: Vec<catalog::FeedbackRow>,
    ended: TickFinish,
) {
    if !actions.is_empty() || !feedback.is_empty() {
        let durable = env
            .dispatcher
            .call(
                |reply| {
                    DispatcherMsg::ForwardRows(PersistenceMsg::Enqueue {
                        persona_id,
                        actions,
                        feedback,
                        durable: Some(reply),
                    })
                },
                None,
            )
            .await;
        if !matches!(durable, Ok(ractor::rpc::CallResult::Success(()))) {
            tracing::error!(
                tick_id,
                "the tick's rows could not be handed to persistence"
            );
        }
    }
    if let Err(error) = env.ledger.tick_ended(&tick_id, &ended).await {
        tracing::warn!(%error, tick_id, "recording the tick end failed");
    }
}
