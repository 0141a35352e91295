//! The dispatcher: the one authority for a tick's concurrency permit, each
//! LLM request's rate slot and the kill-switch, and the actor that batches
//! rows from many ticks to persistence.
//!
//! Tick tasks ask (`RequestPermit`, `RequestLlmSlot`) and wait on the reply.
//! The actor never waits in a handler: requests it cannot grant yet join a
//! queue, served in order when a permit comes back, when the rate limiter's
//! next slot is due (a `SlotDue` timer) or when the kill-switch lifts.
//!
//! - permits: at most `concurrency` ticks run at once. A [`TickPermit`]
//!   returns itself when dropped (the tick ended, or its task was aborted),
//!   so a cancelled tick never leaks one.
//! - rate slots: at most `llm_per_minute` LLM requests in any sliding minute
//!   (governor's GCRA, evenly spaced, no burst; see [`llm_quota`]), timed on
//!   tokio's clock so tests can pause it.
//! - kill-switch (`Pause`): no permit and no rate slot is granted until
//!   `Resume`; running ticks wait at their next LLM request.
//! - draining (`Drain`, shutdown): queued and later permit requests are
//!   refused, but rate slots are still granted so running ticks can finish;
//!   `WhenIdle` answers once every permit is back and no cancelled tick is
//!   still saving its rows ([`SaveHold`]).
//! - rows: `SaveRows` from many ticks are held for up to
//!   `row_batch_window` (or until a batch is full) and go to persistence in
//!   one `Enqueue`; each tick's reply comes when its rows are durable.
//!
//! Every change is published on a `watch` channel ([`DispatcherStatus`]),
//! so the supervisor's snapshot reads it without asking.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::time::Duration;

use catalog::MAX_ACTIONS_PER_BATCH;
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::watch;

use super::persistence::{PersistenceMsg, TickRows};

/// The LLM request quota: one request every `60 s / llm_per_minute`,
/// stretched by [`RATE_MARGIN`], and no burst.
///
/// Hosted APIs count requests per sliding minute, and a burst at start
/// plus a full minute's steady rate overshoots that window: measured at
/// 60/min with a burst of 6, the API answered 10 429s in the first 70 s.
/// The margin absorbs the jitter between leaving the dispatcher and arriving
/// at the API, which otherwise lets a 61st request into some sliding minute.
pub fn llm_quota(llm_per_minute: u32) -> Quota {
    let period = Duration::from_secs_f64(60.0 / f64::from(llm_per_minute.max(1)) * RATE_MARGIN);
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
        .allow_burst(NonZeroU32::MIN)
}

/// How much slower than the configured rate the dispatcher spaces requests.
pub const RATE_MARGIN: f64 = 1.01;

/// governor's clock on tokio's time, so a paused test clock pauses the
/// limiter too (governor's default clock is the wall clock).
#[derive(Debug, Clone)]
struct TokioClock {
    origin: tokio::time::Instant,
}

impl Clock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.origin.elapsed())
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Nanos>>;

/// A running tick's place under the concurrency limit; given back to the
/// dispatcher when dropped.
#[derive(Debug)]
pub struct TickPermit {
    dispatcher: ActorRef<DispatcherMsg>,
}

impl Drop for TickPermit {
    fn drop(&mut self) {
        // A dispatcher that is gone has no permits left to count.
        let _ = self.dispatcher.cast(DispatcherMsg::ReturnPermit);
    }
}

/// Held while a cancelled tick's rows are saved (its task, and so its
/// permit, is gone); `WhenIdle` waits for it as for a permit. Counted when
/// made, so a save begun before shutdown asks is always waited for.
#[derive(Debug)]
pub struct SaveHold {
    dispatcher: ActorRef<DispatcherMsg>,
}

impl SaveHold {
    pub fn new(dispatcher: &ActorRef<DispatcherMsg>) -> SaveHold {
        let _ = dispatcher.cast(DispatcherMsg::SaveStarted);
        SaveHold {
            dispatcher: dispatcher.clone(),
        }
    }
}

impl Drop for SaveHold {
    fn drop(&mut self) {
        let _ = self.dispatcher.cast(DispatcherMsg::SaveEnded);
    }
}

/// Why a tick got no permit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the runner is shutting down; no tick starts")]
pub struct Draining;

/// What the dispatcher publishes on every change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatcherStatus {
    pub paused: bool,
    pub draining: bool,
    pub concurrency: usize,
    pub permits_in_use: usize,
    /// Ticks waiting for a permit.
    pub waiting_for_permit: usize,
    pub llm_per_minute: u32,
    /// LLM requests waiting for a rate slot.
    pub waiting_for_slot: usize,
    /// LLM requests let through since start.
    pub llm_requests: u64,
    /// Ticks whose rows wait in the dispatcher's batch.
    pub batched_ticks: usize,
    /// Cancelled ticks still saving their rows ([`SaveHold`]).
    pub saves_in_flight: usize,
}

pub struct DispatcherActor;

pub struct DispatcherArgs {
    pub persistence: ActorRef<PersistenceMsg>,
    /// Ticks running at once.
    pub concurrency: usize,
    /// LLM requests per minute across all ticks.
    pub llm_per_minute: u32,
    /// The kill-switch's state at start.
    pub paused: bool,
    /// How long a tick's rows wait for other ticks' rows.
    pub row_batch_window: Duration,
    /// Where the status is published.
    pub board: watch::Sender<DispatcherStatus>,
}

pub struct DispatcherState {
    persistence: ActorRef<PersistenceMsg>,
    status: DispatcherStatus,
    board: watch::Sender<DispatcherStatus>,
    permit_queue: VecDeque<RpcReplyPort<Result<TickPermit, Draining>>>,
    limiter: Limiter,
    clock: TokioClock,
    slot_queue: VecDeque<RpcReplyPort<()>>,
    /// A `SlotDue` timer is set; another would only wake the actor twice.
    slot_timer: bool,
    rows: Vec<TickRows>,
    row_count: usize,
    row_batch_window: Duration,
    /// A `FlushRows` timer is set.
    flush_timer: bool,
    idle_waiters: Vec<RpcReplyPort<()>>,
}

pub enum DispatcherMsg {
    /// Operator (kill-switch on): no new tick, no new LLM request. Repeats are harmless.
    Pause,
    /// Operator: lift the kill-switch. Repeats are harmless.
    Resume,
    /// Shutdown: refuse every queued and later permit request. Rate slots
    /// are still granted, so running ticks can finish.
    Drain,
    /// Sent by a tick task before it starts. The reply is a permit, granted
    /// in request order once one is free and the kill-switch is off, or
    /// `Draining`. A request whose caller has gone is skipped.
    RequestPermit(RpcReplyPort<Result<TickPermit, Draining>>),
    /// Sent by a dropped [`TickPermit`].
    ReturnPermit,
    /// Sent before each LLM request; the reply is the go-ahead, in request
    /// order, when the rate allows and the kill-switch is off.
    RequestLlmSlot(RpcReplyPort<()>),
    /// Timer: the rate limiter's next slot is due.
    SlotDue,
    /// Sent by a tick task with its rows; the reply (if any) comes once
    /// they are durable.
    SaveRows(Box<TickRows>),
    /// Timer: hand the batched rows to persistence now.
    FlushRows,
    /// Shutdown: the reply comes once no permit and no [`SaveHold`] is out.
    WhenIdle(RpcReplyPort<()>),
    /// Sent by a new [`SaveHold`].
    SaveStarted,
    /// Sent by a dropped [`SaveHold`].
    SaveEnded,
}

impl Actor for DispatcherActor {
    type Msg = DispatcherMsg;
    type State = DispatcherState;
    type Arguments = DispatcherArgs;

    async fn pre_start(
        &self,
        _me: ActorRef<Self::Msg>,
        args: DispatcherArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let clock = TokioClock {
            origin: tokio::time::Instant::now(),
        };
        let mut state = DispatcherState {
            persistence: args.persistence,
            status: DispatcherStatus {
                paused: args.paused,
                concurrency: args.concurrency.max(1),
                llm_per_minute: args.llm_per_minute,
                ..DispatcherStatus::default()
            },
            board: args.board,
            permit_queue: VecDeque::new(),
            limiter: RateLimiter::direct_with_clock(llm_quota(args.llm_per_minute), clock.clone()),
            clock,
            slot_queue: VecDeque::new(),
            slot_timer: false,
            rows: Vec::new(),
            row_count: 0,
            row_batch_window: args.row_batch_window,
            flush_timer: false,
            idle_waiters: Vec::new(),
        };
        state.publish();
        Ok(state)
    }

    async fn handle(
        &self,
        me: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            DispatcherMsg::Pause => state.status.paused = true,
            DispatcherMsg::Resume => state.status.paused = false,
            DispatcherMsg::Drain => state.status.draining = true,
            DispatcherMsg::RequestPermit(reply) => state.permit_queue.push_back(reply),
            DispatcherMsg::ReturnPermit => {
                state.status.permits_in_use = state.status.permits_in_use.saturating_sub(1);
            }
            DispatcherMsg::RequestLlmSlot(reply) => state.slot_queue.push_back(reply),
            DispatcherMsg::SlotDue => state.slot_timer = false,
            DispatcherMsg::SaveRows(rows) => {
                state.row_count += rows.actions.len() + rows.feedback.len();
                state.rows.push(*rows);
                if state.row_count >= MAX_ACTIONS_PER_BATCH {
                    state.flush_rows();
                } else if !state.flush_timer {
                    state.flush_timer = true;
                    me.send_after(state.row_batch_window, || DispatcherMsg::FlushRows);
                }
            }
            DispatcherMsg::FlushRows => {
                state.flush_timer = false;
                state.flush_rows();
            }
            DispatcherMsg::WhenIdle(reply) => state.idle_waiters.push(reply),
            DispatcherMsg::SaveStarted => state.status.saves_in_flight += 1,
            DispatcherMsg::SaveEnded => {
                state.status.saves_in_flight = state.status.saves_in_flight.saturating_sub(1);
            }
        }
        state.grant_permits(&me);
        state.grant_slots(&me);
        if state.status.permits_in_use == 0 && state.status.saves_in_flight == 0 {
            for waiter in state.idle_waiters.drain(..) {
                let _ = waiter.send(());
            }
        }
        state.publish();
        Ok(())
    }

    async fn post_stop(
        &self,
        _me: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Rows still in the batch go to persistence, whose own stop drains
        // them; nothing accepted is left behind.
        state.flush_rows();
        Ok(())
    }
}

impl DispatcherState {
    fn publish(&mut self) {
        self.status.waiting_for_permit = self.permit_queue.len();
        self.status.waiting_for_slot = self.slot_queue.len();
        self.status.batched_ticks = self.rows.len();
        self.board.send_if_modified(|published| {
            let changed = *published != self.status;
            *published = self.status;
            changed
        });
    }

    fn grant_permits(&mut self, me: &ActorRef<DispatcherMsg>) {
        if self.status.draining {
            for reply in self.permit_queue.drain(..) {
                let _ = reply.send(Err(Draining));
            }
            return;
        }
        while !self.status.paused && self.status.permits_in_use < self.status.concurrency {
            let Some(reply) = self.permit_queue.pop_front() else {
                return;
            };
            if reply.is_closed() {
                continue;
            }
            // Counted before sending: a permit the caller no longer takes is
            // dropped inside the failed send and returns itself.
            self.status.permits_in_use += 1;
            let _ = reply.send(Ok(TickPermit {
                dispatcher: me.clone(),
            }));
        }
    }

    fn grant_slots(&mut self, me: &ActorRef<DispatcherMsg>) {
        while !self.status.paused && !self.slot_queue.is_empty() {
            if self.slot_queue.front().is_some_and(RpcReplyPort::is_closed) {
                self.slot_queue.pop_front();
                continue;
            }
            match self.limiter.check() {
                Ok(()) => {
                    if let Some(reply) = self.slot_queue.pop_front() {
                        self.status.llm_requests += 1;
                        let _ = reply.send(());
                    }
                }
                Err(not_until) => {
                    if !self.slot_timer {
                        self.slot_timer = true;
                        let wait = not_until.wait_time_from(self.clock.now());
                        me.send_after(wait, || DispatcherMsg::SlotDue);
                    }
                    return;
                }
            }
        }
    }

    fn flush_rows(&mut self) {
        if self.rows.is_empty() {
            return;
        }
        self.row_count = 0;
        let batch = std::mem::take(&mut self.rows);
        if let Err(error) = self.persistence.cast(PersistenceMsg::Enqueue(batch)) {
            tracing::error!(%error, "the persistence actor is gone; rows were not accepted");
        }
    }
}
