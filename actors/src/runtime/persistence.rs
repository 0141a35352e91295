//! The persistence actor: collects rows from every persona and writes them
//! through a [`Sink`] in batches.
//!
//! - Rows are queued per persona; the dispatcher sends the rows of one or
//!   more ticks in one message, and a tick's rows stay together in one batch
//!   unless they exceed the batch limits.
//! - A flush happens when a persona's queue reaches the batch limit (at most
//!   [`MAX_ACTIONS_PER_BATCH`] actions or [`MAX_FEEDBACK_PER_BATCH`] feedback
//!   rows), on the flush interval, on `Flush`, and when the actor stops.
//! - A sink that is unavailable is retried with capped exponential backoff;
//!   the rows stay queued (nothing is dropped). A rejected batch is logged
//!   and counted as failed: retrying cannot fix it.
//! - `Enqueue`'s reply is sent only after the rows are durable, so a caller
//!   that waits for it never reports a row as stored too early.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use catalog::{ActionRow, FeedbackRow, MAX_ACTIONS_PER_BATCH, MAX_FEEDBACK_PER_BATCH};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::sink::{Sink, SinkError};

pub struct PersistenceActor;

pub struct PersistenceArgs {
    pub sink: Arc<dyn Sink>,
    /// How often queued rows are flushed even below the batch limit.
    pub flush_interval: Duration,
    /// The first retry delay after a failed write; doubles up to `max_backoff`.
    pub retry_backoff: Duration,
    pub max_backoff: Duration,
}

/// Rows of one persona waiting to be written.
#[derive(Default)]
struct Queue {
    actions: VecDeque<ActionRow>,
    feedback: VecDeque<FeedbackRow>,
    /// Replies owed once everything queued before them is durable.
    waiting: Vec<RpcReplyPort<()>>,
}

pub struct PersistenceState {
    sink: Arc<dyn Sink>,
    queues: BTreeMap<String, Queue>,
    retry_backoff: Duration,
    max_backoff: Duration,
    /// The backoff to wait after the next failure.
    backoff: Duration,
    /// After a failure, no write is tried before this instant; the mailbox
    /// stays responsive meanwhile (no sleeping in a handler).
    retry_at: Option<tokio::time::Instant>,
    stats: PersistenceStatus,
}

/// What `GetStatus` answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PersistenceStatus {
    pub pending_actions: usize,
    pub pending_feedback: usize,
    pub written_actions: u64,
    pub written_feedback: u64,
    pub failed_writes: u64,
    pub rejected_rows: u64,
}

/// One tick's rows, and who waits for them to be durable.
pub struct TickRows {
    pub persona_id: String,
    pub actions: Vec<ActionRow>,
    pub feedback: Vec<FeedbackRow>,
    pub durable: Option<RpcReplyPort<()>>,
}

pub enum PersistenceMsg {
    /// Sent by the dispatcher with the rows of one or more ticks. Each
    /// tick's reply comes once its rows are durable (or rejected); a repeat
    /// is harmless (ids are deterministic). Late arrival after stop: the
    /// rows are lost to this process but were never acknowledged.
    Enqueue(Vec<TickRows>),
    /// Timer or operator: write everything queued now.
    Flush,
    /// Query: counts of pending and written rows.
    GetStatus(RpcReplyPort<PersistenceStatus>),
}

impl Actor for PersistenceActor {
    type Msg = PersistenceMsg;
    type State = PersistenceState;
    type Arguments = PersistenceArgs;

    async fn pre_start(
        &self,
        me: ActorRef<Self::Msg>,
        args: PersistenceArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        me.send_interval(args.flush_interval, || PersistenceMsg::Flush);
        Ok(PersistenceState {
            sink: args.sink,
            queues: BTreeMap::new(),
            retry_backoff: args.retry_backoff,
            max_backoff: args.max_backoff,
            backoff: args.retry_backoff,
            retry_at: None,
            stats: PersistenceStatus::default(),
        })
    }

    async fn handle(
        &self,
        _me: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            PersistenceMsg::Enqueue(ticks) => {
                let mut flush = false;
                for rows in ticks {
                    let queue = state.queues.entry(rows.persona_id).or_default();
                    queue.actions.extend(rows.actions);
                    queue.feedback.extend(rows.feedback);
                    queue.waiting.extend(rows.durable);
                    flush |= queue.actions.len() >= MAX_ACTIONS_PER_BATCH
                        || queue.feedback.len() >= MAX_FEEDBACK_PER_BATCH
                        || !queue.waiting.is_empty();
                }
                if flush {
                    state.flush_all(false).await;
                }
            }
            PersistenceMsg::Flush => state.flush_all(false).await,
            PersistenceMsg::GetStatus(reply) => {
                let _ = reply.send(state.status());
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _me: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Drain: keep retrying until the sink took everything, so nothing
        // accepted is left behind on a graceful stop.
        state.flush_all(true).await;
        Ok(())
    }
}

impl PersistenceState {
    fn status(&self) -> PersistenceStatus {
        PersistenceStatus {
            pending_actions: self.queues.values().map(|queue| queue.actions.len()).sum(),
            pending_feedback: self.queues.values().map(|queue| queue.feedback.len()).sum(),
            ..self.stats
        }
    }

    /// Writes every queue. With `until_done` (the final drain), failures are
    /// retried with backoff until the sink accepts; otherwise one pass, and a
    /// failure postpones further writes until `retry_at`.
    async fn flush_all(&mut self, until_done: bool) {
        if !until_done
            && self
                .retry_at
                .is_some_and(|at| tokio::time::Instant::now() < at)
        {
            return;
        }
        let persona_ids: Vec<String> = self.queues.keys().cloned().collect();
        for persona_id in persona_ids {
            loop {
                match self.flush_one(&persona_id).await {
                    Ok(()) => {
                        self.backoff = self.retry_backoff;
                        self.retry_at = None;
                        break;
                    }
                    Err(error) => {
                        self.stats.failed_writes += 1;
                        tracing::warn!(%error, persona_id, backoff_ms = self.backoff.as_millis() as u64, "writing rows failed; they stay queued");
                        let wait = self.backoff;
                        self.backoff = (self.backoff * 2).min(self.max_backoff);
                        if !until_done {
                            self.retry_at = Some(tokio::time::Instant::now() + wait);
                            return;
                        }
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
        self.queues.retain(|_, queue| {
            !queue.actions.is_empty() || !queue.feedback.is_empty() || !queue.waiting.is_empty()
        });
    }

    /// Writes one persona's queue in batches; rows leave the queue only once
    /// written (or rejected).
    async fn flush_one(&mut self, persona_id: &str) -> Result<(), SinkError> {
        let sink = self.sink.clone();
        let Some(queue) = self.queues.get_mut(persona_id) else {
            return Ok(());
        };
        while !queue.actions.is_empty() {
            let take = queue.actions.len().min(MAX_ACTIONS_PER_BATCH);
            let batch: Vec<ActionRow> = queue.actions.iter().take(take).cloned().collect();
            match sink.write_actions(persona_id, &batch).await {
                Ok(()) => self.stats.written_actions += take as u64,
                Err(SinkError::Rejected(reason)) => {
                    tracing::error!(persona_id, rows = take, %reason, "the sink rejected action rows; they are dropped");
                    self.stats.rejected_rows += take as u64;
                }
                Err(error) => return Err(error),
            }
            queue.actions.drain(..take);
        }
        while !queue.feedback.is_empty() {
            let take = queue.feedback.len().min(MAX_FEEDBACK_PER_BATCH);
            let batch: Vec<FeedbackRow> = queue.feedback.iter().take(take).cloned().collect();
            match sink.write_feedback(persona_id, &batch).await {
                Ok(()) => self.stats.written_feedback += take as u64,
                Err(SinkError::Rejected(reason)) => {
                    tracing::error!(persona_id, rows = take, %reason, "the sink rejected feedback rows; they are dropped");
                    self.stats.rejected_rows += take as u64;
                }
                Err(error) => return Err(error),
            }
            queue.feedback.drain(..take);
        }
        for reply in queue.waiting.drain(..) {
            let _ = reply.send(());
        }
        Ok(())
    }
}
