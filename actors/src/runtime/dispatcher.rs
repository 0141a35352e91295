//! The dispatcher: global concurrency, the LLM request rate and the
//! kill-switch, plus forwarding rows to persistence.
//!
//! The limits live in a shared [`Gate`] that tick tasks await directly —
//! waiting inside the dispatcher's handler would block its mailbox — and
//! the actor owns and steers it (`Pause`, `Resume`); its status is read
//! from the gate itself.
//!
//! - `permits`: at most `concurrency` ticks run at once; a tick waits for a
//!   permit before it starts.
//! - `limiter`: at most `llm_per_minute` LLM requests in any sliding minute
//!   (governor GCRA, evenly spaced, no burst); every LLM request waits for
//!   it. See [`llm_quota`] for why there is no burst.
//! - `paused`: the kill-switch; while set, no tick starts and no LLM request
//!   is sent (running ticks wait at their next request).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::persistence::PersistenceMsg;
use crate::llm::{Llm, LlmError, LlmRequest, LlmResponse};

/// The limits every tick and LLM request pass through.
pub struct Gate {
    concurrency: usize,
    permits: Arc<Semaphore>,
    llm_per_minute: u32,
    limiter: DefaultDirectRateLimiter,
    paused: watch::Sender<bool>,
    /// Shutting down: no tick starts any more (waiting ones give up), but
    /// running ticks keep their LLM access so they can finish.
    draining: watch::Sender<bool>,
    llm_requests: AtomicU64,
    /// Ticks whose rows are on their way to persistence; shutdown waits for
    /// this to reach zero before stopping the actors that carry them.
    saves_in_flight: Arc<AtomicU64>,
}

/// The LLM request quota: one request every `60 s / llm_per_minute`,
/// stretched by [`RATE_MARGIN`], and no burst.
///
/// Hosted APIs count requests per sliding minute, and a burst at start
/// plus a full minute's steady rate overshoots that window: measured at
/// 60/min with a burst of 6, the API answered 10 429s in the first 70 s.
/// The margin absorbs the jitter between leaving the gate and arriving at
/// the API, which otherwise lets a 61st request into some sliding minute.
pub fn llm_quota(llm_per_minute: u32) -> Quota {
    let period = Duration::from_secs_f64(60.0 / f64::from(llm_per_minute.max(1)) * RATE_MARGIN);
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
        .allow_burst(NonZeroU32::MIN)
}

/// How much slower than the configured rate the gate spaces requests.
pub const RATE_MARGIN: f64 = 1.01;

/// Held while a tick's rows are handed to persistence.
pub struct SaveGuard(Arc<AtomicU64>);

impl Drop for SaveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Gate {
    pub fn new(concurrency: usize, llm_per_minute: u32, paused: bool) -> Arc<Gate> {
        let quota = llm_quota(llm_per_minute);
        Arc::new(Gate {
            concurrency: concurrency.max(1),
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            llm_per_minute,
            limiter: RateLimiter::direct(quota),
            paused: watch::channel(paused).0,
            draining: watch::channel(false).0,
            llm_requests: AtomicU64::new(0),
            saves_in_flight: Arc::new(AtomicU64::new(0)),
        })
    }

    async fn wait_until_running(&self) {
        let mut paused = self.paused.subscribe();
        // The sender lives as long as the gate, so this cannot fail while
        // anyone holds the gate.
        let _ = paused.wait_for(|paused| !paused).await;
    }

    /// Waits for the kill-switch to be off and a concurrency permit; `None`
    /// once the gate is draining (the tick must not start).
    pub async fn start_tick(&self) -> Option<OwnedSemaphorePermit> {
        let mut draining = self.draining.subscribe();
        loop {
            if self.is_draining() {
                return None;
            }
            let mut paused = self.paused.subscribe();
            tokio::select! {
                _ = paused.wait_for(|paused| !paused) => {}
                _ = draining.wait_for(|draining| *draining) => return None,
            }
            tokio::select! {
                permit = self.permits.clone().acquire_owned() => {
                    if let Ok(permit) = permit
                        && !self.is_paused()
                        && !self.is_draining()
                    {
                        return Some(permit);
                    }
                }
                _ = draining.wait_for(|draining| *draining) => return None,
            }
        }
    }

    /// Shutdown: refuse every tick start from now on.
    pub fn drain(&self) {
        self.draining.send_replace(true);
    }

    pub fn is_draining(&self) -> bool {
        *self.draining.borrow()
    }

    /// Waits for the kill-switch to be off and the rate limiter.
    pub async fn before_llm_request(&self) {
        self.wait_until_running().await;
        self.limiter.until_ready().await;
        self.llm_requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn begin_save(&self) -> SaveGuard {
        self.saves_in_flight.fetch_add(1, Ordering::SeqCst);
        SaveGuard(self.saves_in_flight.clone())
    }

    pub fn saves_in_flight(&self) -> u64 {
        self.saves_in_flight.load(Ordering::SeqCst)
    }

    pub fn is_paused(&self) -> bool {
        *self.paused.borrow()
    }

    fn set_paused(&self, paused: bool) {
        self.paused.send_replace(paused);
    }

    pub fn status(&self) -> DispatcherStatus {
        DispatcherStatus {
            paused: self.is_paused(),
            concurrency: self.concurrency,
            permits_in_use: self.concurrency - self.permits.available_permits(),
            llm_per_minute: self.llm_per_minute,
            llm_requests: self.llm_requests.load(Ordering::Relaxed),
        }
    }
}

/// An `Llm` whose every request first passes the gate.
pub struct GatedLlm {
    pub inner: Arc<dyn Llm>,
    pub gate: Arc<Gate>,
}

#[async_trait]
impl Llm for GatedLlm {
    fn provider(&self) -> &'static str {
        self.inner.provider()
    }
    fn model(&self) -> &str {
        self.inner.model()
    }
    async fn context_window(&self) -> Option<u32> {
        self.inner.context_window().await
    }
    async fn complete(&self, request: &LlmRequest) -> Result<LlmResponse, LlmError> {
        self.gate.before_llm_request().await;
        let result = self.inner.complete(request).await;
        let provider = self.inner.provider();
        let status = if result.is_ok() { "ok" } else { "error" };
        metrics::counter!("llm_requests_total", "provider" => provider, "status" => status)
            .increment(1);
        if let Ok(response) = &result {
            for (kind, tokens) in [
                ("input", response.usage.input),
                ("output", response.usage.output),
                ("cache_read", response.usage.cache_read),
                ("cache_write", response.usage.cache_write),
            ] {
                metrics::counter!("llm_tokens_total", "kind" => kind).increment(tokens);
            }
        }
        result
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DispatcherStatus {
    pub paused: bool,
    pub concurrency: usize,
    pub permits_in_use: usize,
    pub llm_per_minute: u32,
    /// LLM requests let through since start.
    pub llm_requests: u64,
}

pub struct DispatcherActor;

pub struct DispatcherArgs {
    pub gate: Arc<Gate>,
    pub persistence: ActorRef<PersistenceMsg>,
}

pub struct DispatcherState {
    gate: Arc<Gate>,
    persistence: ActorRef<PersistenceMsg>,
}

pub enum DispatcherMsg {
    /// Operator (kill-switch on): no new tick, no new LLM request. Repeats are harmless.
    Pause,
    /// Operator: lift the kill-switch. Repeats are harmless.
    Resume,
    /// Sent by a persona actor with a finished tick's rows; forwarded to
    /// persistence unchanged (its reply arrives when they are durable).
    ForwardRows(PersistenceMsg),
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
        Ok(DispatcherState {
            gate: args.gate,
            persistence: args.persistence,
        })
    }

    async fn handle(
        &self,
        _me: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            DispatcherMsg::Pause => state.gate.set_paused(true),
            DispatcherMsg::Resume => state.gate.set_paused(false),
            DispatcherMsg::ForwardRows(rows) => {
                if let Err(error) = state.persistence.cast(rows) {
                    tracing::error!(%error, "the persistence actor is gone; rows were not accepted");
                }
            }
        }
        Ok(())
    }
}
