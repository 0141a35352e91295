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
//! - `identity`: who the persona is ([`PersonaIdentity`]);
//! - `running`: the running tick as the actor holds it: starting it,
//!   cancelling it;
//! - `live`: the running tick's calls and what it waits for ([`LiveTick`]);
//! - `report`: what the actor tells the supervisor and operators
//!   ([`TickSummary`], [`PersonaStatus`], [`PersonaReport`]);
//! - `tick_task`: a tick's life in its task: permit, lease, login, the tick,
//!   the verdict, saving its rows, the lease given back;
//! - `tick_llm`: the tick's LLM, which takes a rate slot before each request;
//! - `backoff`: how long the schedule leaves a persona alone after failed
//!   ticks.

mod backoff;
mod identity;
mod live;
mod report;
mod running;
mod tick_llm;
mod tick_task;

use std::sync::Arc;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort};

pub use self::identity::PersonaIdentity;
pub use self::live::{CallState, LiveCall, LiveTick};
pub use self::report::{Activity, CurrentTick, PersonaReport, PersonaStatus, TickSummary};
use self::running::RunningTick;
use super::supervisor::SupervisorMsg;
use super::{CommandRefused, RuntimeEnv};
use crate::app_client::Session;
use crate::progress::TickEvent;

pub struct PersonaActor;

/// Built only by the supervisor.
pub struct PersonaArgs {
    pub(crate) identity: Arc<PersonaIdentity>,
    pub(crate) paused: bool,
    pub(crate) env: Arc<RuntimeEnv>,
    /// Told about every status change, so its snapshot never has to ask.
    pub(crate) supervisor: Option<ActorRef<SupervisorMsg>>,
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
    /// Failed ticks in a row (the backoff's exponent).
    failures: u32,
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
            failures: 0,
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
                // The schedule (no reply port) waits out a failure backoff;
                // an operator's "tick now" does not.
                let backing_off = state
                    .last
                    .as_ref()
                    .and_then(|last| last.next_attempt_at)
                    .is_some_and(|at| chrono::Utc::now() < at);
                if reply.is_none() && backing_off {
                    return Ok(());
                }
                // Boxed: spawning the conversation actor is a large future,
                // and inline it would size the handler's future for good.
                let answer = Box::pin(state.start_tick(&me, reply.is_none())).await;
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
                    state.failures = summary.failures_in_row;
                    state.last = Some(summary);
                    if session.is_some() {
                        state.session = session;
                    }
                }
            }
            PersonaMsg::CancelTick(reason, done) => match state.end_tick() {
                Some(running) => {
                    state.ticks += 1;
                    let persona_id = state.identity.profile.id.clone();
                    let summary = running.cancel(state.env.clone(), persona_id, reason, done);
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

    /// `scheduled`: a schedule pass took the persona's lease for it.
    async fn start_tick(
        &mut self,
        me: &ActorRef<PersonaMsg>,
        scheduled: bool,
    ) -> Result<String, CommandRefused> {
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
        let running = RunningTick::start(
            &self.env,
            &self.identity,
            self.session.clone(),
            self.failures,
            scheduled,
            me,
        )
        .await?;
        let tick_id = running.tick_id.clone();
        self.running = Some(Box::new(running));
        Ok(tick_id)
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
