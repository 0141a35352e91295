//! The persona actor: one per persona. It owns the persona's login session
//! (logging in again only when the token is near expiry or was rejected),
//! its conversation actor, and the running tick with its live
//! `tool_use_id → call` map.
//!
//! A tick runs in a task the actor spawns and owns; the task tells the actor
//! each step as it happens (`Observed`: what it waits for, each call and its
//! result) and reports back with `TickFinished`. So `GetLiveTick`, `Pause`,
//! `CancelTick` and shutdown are answered while an LLM call is in flight. A
//! message about a tick that is not the running one is stale and ignored.
//!
//! # Memory
//!
//! Thousands of these idle at once, so an idle one is kept small: its
//! identity is one allocation shared with the supervisor, the session, the
//! running tick (with its conversation actor and calls) and the last summary
//! sit behind pointers, the message enum boxes its large variants, and
//! starting a tick is a boxed future so the handler's future, which ractor's
//! task holds inline for the actor's whole life, stays small. The supervisor
//! caches a [`PersonaReport`], not a [`PersonaStatus`]. The `size_of` bounds
//! are tests below.
//!
//! # Layout
//!
//! - this file: the actor, its state and its messages;
//! - `live`: the running tick's calls and what it waits for ([`LiveTick`]);
//! - `report`: what the actor tells the supervisor and operators
//!   ([`TickSummary`], [`PersonaStatus`], [`PersonaReport`]);
//! - `tick_task`: a tick's life in its task: permit, lease, login, the tick,
//!   the verdict, saving its rows, the lease given back; and cancelling it;
//! - `tick_llm`: the tick's LLM, which takes a rate slot before each request.

mod live;
mod report;
mod tick_llm;
mod tick_task;

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort};
use tracing::Instrument as _;

use self::live::LiveCalls;
pub use self::live::{CallState, LiveCall, LiveTick};
pub use self::report::{Activity, CurrentTick, PersonaReport, PersonaStatus, TickSummary};
use self::tick_llm::TickLlm;
use self::tick_task::{TickTask, cancel_tick, tick_task};
use super::conversation::{ConversationActor, ConversationHandle, ConversationMsg};
use super::supervisor::SupervisorMsg;
use super::{CommandRefused, RuntimeEnv};
use crate::app_client::Session;
use crate::progress::{TickEvent, TickObserver};
use crate::tick::{PersonaProfile, TickRecorder};

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

/// Built only by the supervisor.
pub struct PersonaArgs {
    pub(crate) identity: Arc<PersonaIdentity>,
    pub(crate) paused: bool,
    pub(crate) env: Arc<RuntimeEnv>,
    /// Told about every status change, so its snapshot never has to ask.
    pub(crate) supervisor: Option<ActorRef<SupervisorMsg>>,
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
    /// Its calls so far, by tool_use_id, and what it waits for.
    live: LiveCalls,
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
    /// Kill-switch with cancellation: abort the running tick, keep the rows
    /// it made, end it as aborted, with this reason. Without a running tick
    /// it does nothing. The reply, if asked for, comes once the rows are
    /// durable and the tick row has ended (at once without a tick).
    CancelTick(String, Option<Box<RpcReplyPort<()>>>),
    /// Sent by the running tick (through its recorder) at each step: what
    /// it waits for, each call and its result. Stale (another tick id) is
    /// ignored.
    Observed(Arc<str>, Box<TickEvent>),
    /// Query (via the supervisor): the running tick's calls and what it
    /// waits for; `None` while idle.
    GetLiveTick(RpcReplyPort<Result<Option<LiveTick>, CommandRefused>>),
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
            PersonaMsg::CancelTick(reason, done) => match state.end_tick() {
                Some(running) => {
                    state.ticks += 1;
                    let summary = cancel_tick(
                        state.env.clone(),
                        state.identity.profile.id.clone(),
                        running.tick_id,
                        running.started_at,
                        running.task,
                        running.recorder,
                        reason,
                        done,
                    );
                    state.last = Some(Arc::new(summary));
                }
                None => {
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                }
            },
            PersonaMsg::Observed(tick_id, event) => {
                let Some(running) = state
                    .running
                    .as_mut()
                    .filter(|running| *running.tick_id == *tick_id)
                else {
                    return Ok(());
                };
                running.live.apply(*event);
            }
            PersonaMsg::GetLiveTick(reply) => {
                let live = state
                    .running
                    .as_ref()
                    .map(|running| running.live.view(&running.tick_id, running.started_at));
                let _ = reply.send(Ok(live));
                return Ok(());
            }
            PersonaMsg::Pause => state.paused = true,
            PersonaMsg::Resume => state.paused = false,
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
                    progress: running.live.progress(),
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
        let recorder = TickRecorder::observed(Arc::new(ToPersonaActor {
            actor: me.clone(),
            tick_id: Arc::from(tick_id.as_str()),
        }));
        let handle = ConversationHandle {
            actor: conversation.clone(),
            provider: llm.provider(),
            model: llm.model().to_owned(),
            source: llm.clone(),
        };
        let _ = conversation.cast(ConversationMsg::UseLlm(Arc::new(TickLlm {
            inner: llm,
            dispatcher: self.env.dispatcher.clone(),
            recorder: recorder.clone(),
        })));
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
            live: LiveCalls::default(),
        }));
        Ok(tick_id)
    }
}

/// Tells the persona actor each step of its running tick.
struct ToPersonaActor {
    actor: ActorRef<PersonaMsg>,
    tick_id: Arc<str>,
}

impl TickObserver for ToPersonaActor {
    fn observe(&self, event: TickEvent) {
        // An actor that stopped has no view left to update.
        let _ = self
            .actor
            .cast(PersonaMsg::Observed(self.tick_id.clone(), Box::new(event)));
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
