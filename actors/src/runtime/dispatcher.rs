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
//! - rate slots: at most this replica's share of `llm_per_minute` (the
//!   fleet's, split among the live replicas, [`super::fleet`]) LLM requests
//!   in any sliding minute (governor's GCRA, evenly spaced, no burst; see
//!   [`llm_quota`]), timed on tokio's clock so tests can pause it. Retries
//!   inside a provider take a slot too ([`crate::llm::rate_gate`]).
//! - the fleet (`FleetSeen`, from each schedule pass's heartbeat): the
//!   fleet's kill-switch sets or lifts this one (never one the fleet's
//!   budget set), and the number of live replicas sets the share.
//! - kill-switch (`Pause`): no permit and no rate slot is granted until
//!   `Resume`; running ticks wait at their next LLM request.
//! - budgets ([`super::budget`]): each answer's spend comes back as
//!   `Spent`. A persona whose daily budget is spent gets no permit and no
//!   slot (its tick fails, reason budget); the fleet's budget spent sets the
//!   kill-switch with reason budget, refusing the slots running ticks wait
//!   for, until the next UTC day (a `NewDay` timer) or an operator's
//!   `Resume`, which waives the fleet's budget for the rest of the day.
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

use std::collections::{HashMap, VecDeque};
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

use super::budget::{BudgetBook, BudgetSpent, Budgets, Scope, Spend, until_next_day};
use super::fleet::llm_share;
use super::persistence::{PersistenceMsg, TickRows};

/// The LLM request quota: one request every `60 s / llm_per_minute`,
/// stretched by [`RATE_MARGIN`], and no burst (a rate that is not positive
/// reads as one a minute).
///
/// Hosted APIs count requests per sliding minute, and a burst at start
/// plus a full minute's steady rate overshoots that window: measured at
/// 60/min with a burst of 6, the API answered 10 429s in the first 70 s.
/// The margin absorbs the jitter between leaving the dispatcher and arriving
/// at the API, which otherwise lets a 61st request into some sliding minute.
pub fn llm_quota(llm_per_minute: f64) -> Quota {
    let period = Duration::try_from_secs_f64(60.0 / llm_per_minute * RATE_MARGIN)
        .unwrap_or(Duration::from_secs(60));
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
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum NoPermit {
    #[error("the runner is shutting down; no tick starts")]
    Draining,
    #[error("{0}")]
    Budget(BudgetSpent),
}

/// What the dispatcher publishes on every change.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DispatcherStatus {
    /// No permit and no rate slot is granted: the fleet's switch is on here,
    /// or the fleet's budget is spent.
    pub paused: bool,
    /// The fleet's budget is spent (until the next UTC day or a resume).
    pub paused_by_budget: bool,
    /// Operators' `Pause` and `Resume` here, counted: a schedule pass's
    /// `FleetSeen` read before the latest one is stale and ignored.
    pub switch_commands: u64,
    pub draining: bool,
    pub concurrency: usize,
    pub permits_in_use: usize,
    /// Ticks waiting for a permit.
    pub waiting_for_permit: usize,
    /// The fleet's LLM requests per minute (`PERSONA_LLM_RPM`).
    pub llm_per_minute: u32,
    /// Live replicas at the last heartbeat (1 before the first).
    pub replicas: usize,
    /// This replica's share of `llm_per_minute`.
    pub llm_share_per_minute: f64,
    /// LLM requests waiting for a rate slot.
    pub waiting_for_slot: usize,
    /// LLM requests let through since start.
    pub llm_requests: u64,
    /// Ticks whose rows wait in the dispatcher's batch.
    pub batched_ticks: usize,
    /// Cancelled ticks still saving their rows ([`SaveHold`]).
    pub saves_in_flight: usize,
    pub budgets: Budgets,
    /// The whole fleet's spend this UTC day.
    pub fleet_spent: Spend,
    /// Requests refused because a budget was spent, since start.
    pub budget_refusals: u64,
}

pub struct DispatcherActor;

pub struct DispatcherArgs {
    pub persistence: ActorRef<PersistenceMsg>,
    /// Ticks running at once.
    pub concurrency: usize,
    /// LLM requests per minute across the fleet's ticks.
    pub llm_per_minute: u32,
    /// Live replicas as the first heartbeat saw them.
    pub replicas: usize,
    /// The kill-switch's state at start.
    pub paused: bool,
    /// How long a tick's rows wait for other ticks' rows.
    pub row_batch_window: Duration,
    /// Today's spend against the budgets, as read at start.
    pub budget: BudgetBook,
    /// Where the status is published.
    pub board: watch::Sender<DispatcherStatus>,
}

pub struct DispatcherState {
    persistence: ActorRef<PersistenceMsg>,
    status: DispatcherStatus,
    board: watch::Sender<DispatcherStatus>,
    /// Waiting permit requests: the persona, and where to answer.
    permit_queue: VecDeque<(String, RpcReplyPort<Result<TickPermit, NoPermit>>)>,
    limiter: Limiter,
    clock: TokioClock,
    /// Waiting rate-slot requests: the persona, and where to answer.
    slot_queue: VecDeque<(String, RpcReplyPort<Result<(), BudgetSpent>>)>,
    /// The fleet's kill-switch as this replica knows it (an operator's
    /// command here, or the last pass's heartbeat).
    fleet_paused: bool,
    budget: BudgetBook,
    /// A `NewDay` timer is set.
    day_timer: bool,
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
    /// Sent by each schedule pass: the fleet's kill-switch and how many
    /// replicas are alive (this one's share of the LLM quota follows).
    /// `after` is the `switch_commands` count the pass began with; the
    /// switch of a pass older than an operator's command is ignored.
    FleetSeen {
        paused: bool,
        replicas: usize,
        after: u64,
    },
    /// Shutdown: refuse every queued and later permit request. Rate slots
    /// are still granted, so running ticks can finish.
    Drain,
    /// Sent by a tick task (of the named persona) before it starts. The
    /// reply is a permit, granted in request order once one is free and the
    /// kill-switch is off; or `Draining`; or `Budget` at once when the
    /// persona's budget is spent. A request whose caller has gone is skipped.
    RequestPermit(String, RpcReplyPort<Result<TickPermit, NoPermit>>),
    /// Sent by a dropped [`TickPermit`].
    ReturnPermit,
    /// Sent before each LLM request of the named persona; the reply is the
    /// go-ahead, in request order, when the rate allows and the kill-switch
    /// is off; or the budget that is spent (the persona's, or the fleet's
    /// while it holds the kill-switch).
    RequestLlmSlot(String, RpcReplyPort<Result<(), BudgetSpent>>),
    /// Sent after each LLM answer: what it cost the named persona.
    Spent(String, Spend),
    /// Timer: a new UTC day may have started (budgets renew).
    NewDay,
    /// Today's spend per persona id.
    GetSpending(RpcReplyPort<HashMap<String, Spend>>),
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
        me: ActorRef<Self::Msg>,
        args: DispatcherArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let clock = TokioClock {
            origin: tokio::time::Instant::now(),
        };
        metrics::gauge!(crate::metrics::FLEET_REPLICAS).set(args.replicas.max(1) as f64);
        let mut state = DispatcherState {
            persistence: args.persistence,
            fleet_paused: args.paused,
            status: DispatcherStatus {
                paused: args.paused,
                concurrency: args.concurrency.max(1),
                llm_per_minute: args.llm_per_minute,
                replicas: args.replicas.max(1),
                llm_share_per_minute: llm_share(args.llm_per_minute, args.replicas),
                budgets: args.budget.budgets(),
                fleet_spent: args.budget.fleet_spent(),
                ..DispatcherStatus::default()
            },
            board: args.board,
            permit_queue: VecDeque::new(),
            limiter: RateLimiter::direct_with_clock(
                llm_quota(llm_share(args.llm_per_minute, args.replicas)),
                clock.clone(),
            ),
            clock,
            slot_queue: VecDeque::new(),
            budget: args.budget,
            day_timer: false,
            slot_timer: false,
            rows: Vec::new(),
            row_count: 0,
            row_batch_window: args.row_batch_window,
            flush_timer: false,
            idle_waiters: Vec::new(),
        };
        // Spent before a restart: the kill-switch holds as if it never stopped.
        state.check_fleet_budget(&me);
        state.publish();
        Ok(state)
    }

    async fn handle(
        &self,
        me: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.roll_day();
        match message {
            DispatcherMsg::Pause => {
                state.status.switch_commands += 1;
                state.fleet_paused = true;
            }
            DispatcherMsg::Resume => {
                state.status.switch_commands += 1;
                if state.status.paused_by_budget {
                    tracing::warn!(
                        "an operator lifted the fleet budget's kill-switch; the fleet budget is waived for the rest of the UTC day"
                    );
                    state.budget.waive_fleet_today();
                }
                state.fleet_paused = false;
                state.status.paused_by_budget = false;
            }
            DispatcherMsg::Drain => state.status.draining = true,
            DispatcherMsg::FleetSeen {
                paused,
                replicas,
                after,
            } => state.follow_fleet(paused, replicas, after),
            DispatcherMsg::RequestPermit(persona, reply) => {
                match state.budget.persona_over(&persona) {
                    Some(spent) => state.refuse(reply, NoPermit::Budget(spent)),
                    None => state.permit_queue.push_back((persona, reply)),
                }
            }
            DispatcherMsg::ReturnPermit => {
                state.status.permits_in_use = state.status.permits_in_use.saturating_sub(1);
            }
            DispatcherMsg::RequestLlmSlot(persona, reply) => {
                state.slot_queue.push_back((persona, reply))
            }
            DispatcherMsg::Spent(persona, spend) => {
                state.budget.record(&persona, spend);
                state.status.fleet_spent = state.budget.fleet_spent();
                metrics::gauge!(crate::metrics::BUDGET_SPENT_USD, "scope" => "fleet")
                    .set(state.status.fleet_spent.usd);
                metrics::gauge!(crate::metrics::BUDGET_SPENT_TOKENS, "scope" => "fleet")
                    .set(state.status.fleet_spent.tokens as f64);
                state.check_fleet_budget(&me);
            }
            DispatcherMsg::NewDay => {
                state.day_timer = false;
                // Early (a clock that jumped): wait for the day once more.
                if state.status.paused_by_budget {
                    state.arm_day_timer(&me);
                }
            }
            DispatcherMsg::GetSpending(reply) => {
                let _ = reply.send(state.budget.personas().clone());
            }
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
        state.status.paused = state.fleet_paused || state.status.paused_by_budget;
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
            for (_, reply) in self.permit_queue.drain(..) {
                let _ = reply.send(Err(NoPermit::Draining));
            }
            return;
        }
        while !self.status.paused && self.status.permits_in_use < self.status.concurrency {
            let Some((persona, reply)) = self.permit_queue.pop_front() else {
                return;
            };
            if reply.is_closed() {
                continue;
            }
            if let Some(spent) = self.budget.persona_over(&persona) {
                self.refuse(reply, NoPermit::Budget(spent));
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
        if self.status.paused_by_budget {
            // Waiting for the next UTC day would outlast any tick's timeout;
            // the ticks end now, failed for the budget, their rows kept.
            if let Some(spent) = self.budget.fleet_over() {
                for (_, reply) in self.slot_queue.drain(..) {
                    self.status.budget_refusals += 1;
                    let _ = reply.send(Err(spent));
                }
            }
            return;
        }
        while !self.status.paused && !self.slot_queue.is_empty() {
            let Some((persona, reply)) = self.slot_queue.front() else {
                return;
            };
            if reply.is_closed() {
                self.slot_queue.pop_front();
                continue;
            }
            if let Some(spent) = self.budget.persona_over(persona) {
                if let Some((_, reply)) = self.slot_queue.pop_front() {
                    self.status.budget_refusals += 1;
                    metrics::counter!(crate::metrics::BUDGET_REFUSALS_TOTAL, "scope" => Scope::Persona.as_str()).increment(1);
                    let _ = reply.send(Err(spent));
                }
                continue;
            }
            match self.limiter.check() {
                Ok(()) => {
                    if let Some((_, reply)) = self.slot_queue.pop_front() {
                        self.status.llm_requests += 1;
                        let _ = reply.send(Ok(()));
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

    /// Takes the fleet's kill-switch unless an operator's command here is
    /// newer than the pass that read it (a budget's pause stays until its
    /// day ends), and re-splits the LLM quota when the number of replicas
    /// changed.
    fn follow_fleet(&mut self, paused: bool, replicas: usize, after: u64) {
        if after == self.status.switch_commands && paused != self.fleet_paused {
            if paused {
                tracing::info!("the fleet's kill-switch is on: no tick starts here");
            } else {
                tracing::info!("the fleet's kill-switch is off: ticks start here again");
            }
            self.fleet_paused = paused;
        }
        let replicas = replicas.max(1);
        if replicas != self.status.replicas {
            let share = llm_share(self.status.llm_per_minute, replicas);
            tracing::info!(
                replicas,
                share_per_minute = share,
                "the live replicas changed; this one's share of the LLM quota follows"
            );
            self.status.replicas = replicas;
            self.status.llm_share_per_minute = share;
            // A new limiter's first slot is free at once: at most one request
            // early per change of the fleet, which the margin absorbs.
            self.limiter = RateLimiter::direct_with_clock(llm_quota(share), self.clock.clone());
            metrics::gauge!(crate::metrics::FLEET_REPLICAS).set(replicas as f64);
        }
    }

    /// A permit request refused at once (a spent budget).
    fn refuse(&mut self, reply: RpcReplyPort<Result<TickPermit, NoPermit>>, why: NoPermit) {
        if let NoPermit::Budget(spent) = why {
            self.status.budget_refusals += 1;
            metrics::counter!(crate::metrics::BUDGET_REFUSALS_TOTAL, "scope" => spent.scope.as_str())
                .increment(1);
        }
        let _ = reply.send(Err(why));
    }

    /// Sets the kill-switch, reason budget, once the fleet's budget is
    /// spent, with a timer for the next UTC day.
    fn check_fleet_budget(&mut self, me: &ActorRef<DispatcherMsg>) {
        if self.status.paused_by_budget {
            return;
        }
        if let Some(spent) = self.budget.fleet_over() {
            tracing::warn!(%spent, "the kill-switch is on until the next UTC day or an operator's resume");
            metrics::counter!(crate::metrics::BUDGET_REFUSALS_TOTAL, "scope" => Scope::Fleet.as_str())
                .increment(1);
            self.status.paused_by_budget = true;
            self.status.paused = true;
            self.arm_day_timer(me);
        }
    }

    fn arm_day_timer(&mut self, me: &ActorRef<DispatcherMsg>) {
        if !self.day_timer {
            self.day_timer = true;
            // A second late, so the timer never fires just before midnight.
            let wait = until_next_day(chrono::Utc::now()) + Duration::from_secs(1);
            me.send_after(wait, || DispatcherMsg::NewDay);
        }
    }

    /// Renews the budgets when a new UTC day has begun, lifting the
    /// kill-switch the fleet's budget set.
    fn roll_day(&mut self) {
        if self.budget.roll_to(chrono::Utc::now().date_naive()) {
            self.status.fleet_spent = self.budget.fleet_spent();
            if self.status.paused_by_budget {
                tracing::info!("a new UTC day: the fleet budget renews and its pause lifts");
                self.status.paused_by_budget = false;
                self.status.paused = self.fleet_paused;
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
