//! The persona actor: one per persona. It owns the persona's login session
//! (logging in again only when the token is near expiry or was rejected),
//! its conversation actor, and the running tick.
//!
//! A tick runs in a task the actor spawns and owns; the task reports back
//! with `TickFinished`. So `GetStatus`, `Pause` and shutdown are answered
//! while an LLM call is in flight. A finished message for a tick that is not
//! the running one is stale and ignored.
//!
//! # Memory
//!
//! Thousands of these idle at once, so an idle one is kept small: its
//! identity is one allocation shared with the supervisor, the session, the
//! running tick (with its conversation actor) and the last summary sit
//! behind pointers, the message enum boxes its large variants, and starting
//! a tick is a boxed future so the handler's future, which ractor's task
//! holds inline for the actor's whole life, stays small. The supervisor
//! caches a [`PersonaReport`], not a [`PersonaStatus`]. The `size_of`
//! bounds are tests below.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use catalog::{ActionResult, FailedBy, TickStatus, TokenUsage};
use chrono::{DateTime, Utc};
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort};
use tracing::Instrument as _;

use super::conversation::{ConversationActor, ConversationHandle, ConversationMsg};
use super::dispatcher::{DispatcherMsg, GatedLlm};
use super::persistence::PersistenceMsg;
use super::supervisor::SupervisorMsg;
use super::{CommandRefused, RuntimeEnv};
use crate::app_client::{LoginError, Session};
use crate::mcp_client::McpError;
use crate::tick::{
    PersonaProfile, TickEnd, TickError, TickProgress, TickRecord, TickRecorder, run_tick,
};
use catalog::{NewTick, TickFinish};

pub struct PersonaActor;

/// Who a persona is and how it logs in: one allocation per persona, shared
/// by the supervisor, the persona's actor and its ticks (a system prompt is
/// about 1.5 KB; held twice, that is 15 MB at 10,000 personas).
pub struct PersonaIdentity {
    pub profile: PersonaProfile,
    /// The derived login password.
    pub password: String,
}

impl PersonaIdentity {
    /// Whether `profile` and `password` describe this identity exactly.
    pub fn matches(&self, profile: &PersonaProfile, password: &str) -> bool {
        self.profile == *profile && self.password == password
    }
}

impl fmt::Debug for PersonaIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PersonaIdentity")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

pub struct PersonaArgs {
    pub identity: Arc<PersonaIdentity>,
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
    /// The tick's LLM endpoint, stopped when the tick ends: an idle persona
    /// holds no conversation actor, which keeps thousands of them cheap.
    conversation: ActorRef<ConversationMsg>,
}

/// Held inline by the actor's task for its whole life, so everything that
/// only some personas have some of the time is behind a pointer.
pub struct PersonaState {
    identity: Arc<PersonaIdentity>,
    env: Arc<RuntimeEnv>,
    supervisor: Option<ActorRef<SupervisorMsg>>,
    session: Option<Box<Session>>,
    paused: bool,
    running: Option<Box<RunningTick>>,
    /// Shared with the supervisor's cache.
    last: Option<Arc<TickSummary>>,
    ticks: u64,
}

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
    pub duration_ms: u64,
    pub finished_at: DateTime<Utc>,
}

impl TickSummary {
    /// How a tick went: its outcome, and the counts from what it recorded.
    fn new(
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
            duration_ms,
            finished_at: Utc::now(),
        }
    }

    /// One log line per finished tick: `ok` at info, anything else at warn,
    /// with the reason.
    fn log(&self) {
        let reason = self.error.as_deref().unwrap_or("");
        let failed_by = self.failed_by.map(FailedBy::as_str).unwrap_or("");
        if self.status == TickStatus::Ok {
            tracing::info!(
                tick_id = %self.tick_id,
                status = self.status.as_str(),
                tools = self.actions,
                errors = self.failed_actions,
                agent_errors = self.agent_errors,
                rated = self.modules_rated,
                turns = self.turns,
                duration_ms = self.duration_ms,
                "tick finished"
            );
        } else {
            tracing::warn!(
                tick_id = %self.tick_id,
                status = self.status.as_str(),
                failed_by,
                reason,
                tools = self.actions,
                errors = self.failed_actions,
                agent_errors = self.agent_errors,
                rated = self.modules_rated,
                turns = self.turns,
                duration_ms = self.duration_ms,
                "tick finished"
            );
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

/// The operator's view of one persona, built on demand (by `GetStatus`, and
/// by the supervisor's snapshot from a [`PersonaReport`]).
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
    /// The running tick's record, read for live progress.
    pub recorder: TickRecorder,
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
            current_progress: self.current.as_ref().map(|tick| tick.recorder.progress()),
            last: self.last.as_deref().cloned(),
            ticks: self.ticks,
        }
    }
}

/// Large variants are boxed: ractor boxes every message anyway, but the
/// handler's future holds one inline for the actor's whole life.
pub enum PersonaMsg {
    /// Supervisor schedule or operator: start a tick now. Replies with the
    /// tick id, or why not (paused, already ticking). A repeat while ticking
    /// is refused, never queued.
    StartTick(Option<RpcReplyPort<Result<String, CommandRefused>>>),
    /// Sent by the tick task when it ends, after its rows are durable.
    /// Stale (another tick id) is ignored.
    TickFinished {
        tick_id: String,
        summary: Arc<TickSummary>,
        session: Option<Box<Session>>,
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
        me: ActorRef<Self::Msg>,
        args: PersonaArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let state = PersonaState {
            identity: args.identity,
            env: args.env,
            supervisor: args.supervisor,
            session: None,
            paused: args.paused,
            running: None,
            last: None,
            ticks: 0,
        };
        state.report(me.get_id());
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
                // Boxed: spawning the conversation actor is a large future,
                // and inline it would size the handler's future for good.
                let answer = Box::pin(state.start_tick(&me)).await;
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
                    state.end_tick();
                    state.ticks += 1;
                    state.last = Some(summary);
                    if session.is_some() {
                        state.session = session;
                    }
                }
            }
            PersonaMsg::CancelTick(reason) => {
                if let Some(running) = state.end_tick() {
                    running.task.abort();
                    metrics::counter!("persona_ticks_total", "outcome" => TickStatus::Aborted.as_str()).increment(1);
                    state.ticks += 1;
                    let record = running.recorder.take();
                    let summary = TickSummary::new(
                        running.tick_id.clone(),
                        TickStatus::Aborted,
                        Some(reason.clone()),
                        None,
                        &record,
                        (Utc::now() - running.started_at).num_milliseconds().max(0) as u64,
                    );
                    state.last = Some(Arc::new(summary));
                    let ended = TickFinish {
                        status: TickStatus::Aborted,
                        error: Some(reason),
                        failed_by: None,
                        finish_reason: record.finish_reason,
                        turns: record.turns,
                        tokens: record.tokens,
                        summary: record.summary,
                        finished_at: Utc::now(),
                    };
                    let guard = state.env.gate.begin_save();
                    let env = state.env.clone();
                    let persona_id = state.identity.profile.id.clone();
                    let save = save_tick(
                        guard,
                        state.env.clone(),
                        persona_id.clone(),
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
                let _ = reply.send(state.report_now().status(&state.identity.profile));
                return Ok(());
            }
        }
        state.report(me.get_id());
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
            tracing::info!(persona = %state.identity.profile.email, tick_id = %running.tick_id, "persona actor stopped while ticking");
        }
        Ok(())
    }
}

impl PersonaState {
    /// Takes the running tick out and stops its conversation actor.
    fn end_tick(&mut self) -> Option<Box<RunningTick>> {
        let running = self.running.take()?;
        running.conversation.stop(Some("tick over".into()));
        Some(running)
    }

    fn report_now(&self) -> PersonaReport {
        PersonaReport {
            activity: if self.running.is_some() {
                Activity::Ticking
            } else if self.paused {
                Activity::Paused
            } else {
                Activity::Idle
            },
            paused: self.paused,
            ticks: self.ticks,
            current: self.running.as_ref().map(|running| {
                Box::new(CurrentTick {
                    tick_id: running.tick_id.clone(),
                    started_at: running.started_at,
                    recorder: running.recorder.clone(),
                })
            }),
            last: self.last.clone(),
        }
    }

    /// Tells the supervisor, which knows this actor by `me`.
    fn report(&self, me: ActorId) {
        if let Some(supervisor) = &self.supervisor {
            let _ = supervisor.cast(SupervisorMsg::PersonaChanged(me, self.report_now()));
        }
    }

    async fn start_tick(&mut self, me: &ActorRef<PersonaMsg>) -> Result<String, CommandRefused> {
        let email = &self.identity.profile.email;
        if self.paused {
            return Err(CommandRefused::Paused {
                email: email.clone(),
            });
        }
        if let Some(running) = &self.running {
            return Err(CommandRefused::Busy {
                email: email.clone(),
                tick_id: running.tick_id.clone(),
            });
        }
        let tick_id = uuid::Uuid::now_v7().to_string();
        let llm = self.env.llms.for_tick(&self.identity.profile, &tick_id);
        let (conversation, _) = Actor::spawn_linked(None, ConversationActor, (), me.get_cell())
            .await
            .map_err(|error| CommandRefused::NotStarted(error.to_string()))?;
        let handle = ConversationHandle {
            actor: conversation.clone(),
            provider: llm.provider(),
            model: llm.model().to_owned(),
            source: llm.clone(),
        };
        let gated = Arc::new(GatedLlm {
            inner: llm,
            gate: self.env.gate.clone(),
        });
        let _ = conversation.cast(ConversationMsg::UseLlm(gated));
        let recorder = TickRecorder::default();
        // The tick's logs carry who ticks: a spawned task starts outside any
        // span, and ractor does not pass the sender's span to handlers here.
        let span = tracing::info_span!("tick", persona = %email, tick_id = %tick_id);
        let task = tokio::spawn(
            tick_task(TickTask {
                recorder: recorder.clone(),
                env: self.env.clone(),
                identity: self.identity.clone(),
                session: self.session.clone(),
                tick_id: tick_id.clone(),
                llm: handle,
                me: me.clone(),
            })
            .instrument(span),
        );
        self.running = Some(Box::new(RunningTick {
            tick_id: tick_id.clone(),
            started_at: Utc::now(),
            recorder,
            task,
            conversation,
        }));
        Ok(tick_id)
    }
}

struct TickTask {
    recorder: TickRecorder,
    env: Arc<RuntimeEnv>,
    identity: Arc<PersonaIdentity>,
    session: Option<Box<Session>>,
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

impl TickFailure {
    /// Whose failure this is: logging in and the MCP connection are the
    /// app's side.
    fn failed_by(&self) -> FailedBy {
        match self {
            TickFailure::Login(_) | TickFailure::Mcp(_) => FailedBy::App,
            TickFailure::Tick(error) => error.failed_by(),
        }
    }
}

async fn tick_task(task: TickTask) {
    let TickTask {
        recorder,
        env,
        identity,
        session,
        tick_id,
        llm,
        me,
    } = task;
    let PersonaIdentity { profile, password } = &*identity;
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
            Some(session) => *session,
            None => env.app.login(&profile.email, password).await?,
        };
        // A rejected token (revoked, key rotated) gets one fresh login.
        let (session, mcp) = match env.mcp.open(&session).await {
            Ok(mcp) => (session, mcp),
            Err(_) => {
                let session = env.app.login(&profile.email, password).await?;
                let mcp = env.mcp.open(&session).await?;
                (session, mcp)
            }
        };
        let result = run_tick(profile, &tick_id, &llm, &mcp, env.settings, &recorder, now).await;
        mcp.close().await;
        Ok::<(Session, TickEnd), TickFailure>((session, result?))
    };
    let (status, error, failed_by, session) =
        match tokio::time::timeout(env.tick_timeout, work).await {
            Err(_) => {
                let waiting_on = recorder.waiting_on();
                let on = match waiting_on {
                    Some(FailedBy::Llm) => " waiting on the LLM",
                    Some(FailedBy::App) => " waiting on the app",
                    _ => "",
                };
                (
                    TickStatus::Failed,
                    Some(format!(
                        "the tick timed out after {} s{on} (PERSONA_TICK_TIMEOUT_SECS)",
                        env.tick_timeout.as_secs()
                    )),
                    waiting_on,
                    None,
                )
            }
            Ok(Err(failure)) => (
                TickStatus::Failed,
                Some(failure.to_string()),
                Some(failure.failed_by()),
                None,
            ),
            Ok(Ok((session, end))) => {
                let (status, reason) = end.verdict(recorder.action_count());
                (status, reason, None, Some(Box::new(session)))
            }
        };
    let record = recorder.take();
    metrics::counter!("persona_ticks_total", "outcome" => status.as_str()).increment(1);
    metrics::histogram!("persona_tick_duration_seconds").record(started.elapsed().as_secs_f64());
    if record
        .feedback
        .iter()
        .any(catalog::FeedbackRow::is_parse_failure)
    {
        metrics::counter!("persona_rating_parse_failures_total").increment(1);
    }
    let summary = TickSummary::new(
        tick_id.clone(),
        status,
        error.clone(),
        failed_by,
        &record,
        started.elapsed().as_millis() as u64,
    );
    summary.log();
    let ended = TickFinish {
        status,
        error,
        failed_by,
        finish_reason: record.finish_reason,
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
        summary: Arc::new(summary),
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
    session: Option<Box<Session>>,
    reason: String,
) {
    let summary = TickSummary::new(
        tick_id.clone(),
        TickStatus::Aborted,
        Some(reason),
        None,
        &TickRecord::default(),
        0,
    );
    let _ = me.cast(PersonaMsg::TickFinished {
        tick_id,
        summary: Arc::new(summary),
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

#[cfg(test)]
mod tests {
    use std::mem::size_of;

    use super::*;

    fn future_size<A, B, C, D, F: Future>(_: impl FnOnce(A, B, C, D) -> F) -> usize {
        size_of::<F>()
    }

    fn future_size3<A, B, C, F: Future>(_: impl FnOnce(A, B, C) -> F) -> usize {
        size_of::<F>()
    }

    /// ractor's task holds the state and the largest handler future inline
    /// for as long as the actor lives: these are an idle persona's own bytes
    /// (x86_64: state 64, message 40 — 120 with the session inline — report
    /// 32, `handle`'s future 160 with the tick start boxed).
    #[test]
    fn an_idle_persona_stays_small() {
        assert!(size_of::<PersonaState>() <= 64);
        assert!(size_of::<PersonaMsg>() <= 40);
        assert!(size_of::<PersonaReport>() <= 32);
        let handle = future_size(<PersonaActor as Actor>::handle);
        assert!(handle <= 192, "handle's future is {handle} bytes");
        for other in [
            future_size3(<PersonaActor as Actor>::pre_start),
            future_size3(<PersonaActor as Actor>::post_stop),
            future_size(<PersonaActor as Actor>::handle_supervisor_evt),
        ] {
            assert!(other <= handle, "{other} bytes");
        }
    }
}
