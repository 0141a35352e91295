//! The persistence actor's retries, on Tokio's paused clock: a sink that is
//! down a few times and then back gets every row exactly once, and the
//! actor waits the doubling, capped backoff between attempts.
//!
//! Each test starts with the clock paused. Whenever every task waits, Tokio
//! moves the clock straight to the next timer, so seconds of backoff pass
//! in no real time and the waits are measured in virtual time, exactly.
//! ractor's `send_interval` (the actor's flush timer) runs on Tokio's clock
//! too. The sink records when each write was tried; those instants, not a
//! sleep, are what the tests check.

// Test helpers panic on purpose when a fixture cannot be set up.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actors::runtime::persistence::{PersistenceActor, PersistenceArgs, PersistenceMsg, TickRows};
use actors::sink::{Sink, SinkError};
use async_trait::async_trait;
use catalog::{ActionResult, ActionRow, FeedbackRow, Rating};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorRef};
use tokio::time::Instant;

/// The first retry's wait; it doubles after each failure.
const RETRY_BACKOFF: Duration = Duration::from_secs(1);

/// Where the doubling stops.
const MAX_BACKOFF: Duration = Duration::from_secs(4);

/// Tokio's timers fire on whole milliseconds, so a virtual wait can end up
/// to one millisecond past its deadline.
const TIMER_GRANULARITY: Duration = Duration::from_millis(1);

/// How long a call may wait for its reply, in virtual time: far beyond
/// every backoff here, so only a lost reply runs into it.
const REPLY_LIMIT: Duration = Duration::from_secs(600);

/// A sink that refuses its first `failures` writes of action rows as
/// unavailable, then stores everything; it notes when each write of action
/// rows was tried.
struct DownThenUp {
    failures_left: AtomicUsize,
    /// When each write of action rows was tried, refused ones included.
    attempts: Mutex<Vec<Instant>>,
    actions: Mutex<Vec<ActionRow>>,
    feedback: Mutex<Vec<FeedbackRow>>,
}

impl DownThenUp {
    fn new(failures: usize) -> Arc<DownThenUp> {
        Arc::new(DownThenUp {
            failures_left: AtomicUsize::new(failures),
            attempts: Mutex::new(Vec::new()),
            actions: Mutex::new(Vec::new()),
            feedback: Mutex::new(Vec::new()),
        })
    }

    /// The time between consecutive attempts.
    fn gaps(&self) -> Vec<Duration> {
        let attempts = self.attempts.lock().unwrap();
        attempts.windows(2).map(|pair| pair[1] - pair[0]).collect()
    }
}

#[async_trait]
impl Sink for DownThenUp {
    async fn write_actions(&self, _persona_id: &str, rows: &[ActionRow]) -> Result<(), SinkError> {
        self.attempts.lock().unwrap().push(Instant::now());
        let down = self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok();
        if down {
            return Err(SinkError::Unavailable("simulated outage".into()));
        }
        self.actions.lock().unwrap().extend_from_slice(rows);
        Ok(())
    }

    async fn write_feedback(
        &self,
        _persona_id: &str,
        rows: &[FeedbackRow],
    ) -> Result<(), SinkError> {
        self.feedback.lock().unwrap().extend_from_slice(rows);
        Ok(())
    }
}

fn action(action_idx: u32) -> ActionRow {
    ActionRow {
        tick_id: "tick-1".into(),
        action_idx,
        tool_use_id: Some(format!("toolu_{action_idx}")),
        tool_name: "todo.create".into(),
        input_hash: "0123456789abcdef".into(),
        result: ActionResult::Ok,
        error_message: None,
        failed_by: None,
        latency_ms: 3,
        created_at: chrono::Utc::now(),
    }
}

fn feedback() -> FeedbackRow {
    FeedbackRow {
        tick_id: "tick-1".into(),
        module: "todo".into(),
        rating: Some(Rating::new(4).unwrap()),
        notes: "ok".into(),
        created_at: chrono::Utc::now(),
    }
}

async fn spawn(sink: Arc<DownThenUp>, flush_interval: Duration) -> ActorRef<PersistenceMsg> {
    let (actor, _) = Actor::spawn(
        None,
        PersistenceActor,
        PersistenceArgs {
            sink,
            flush_interval,
            retry_backoff: RETRY_BACKOFF,
            max_backoff: MAX_BACKOFF,
        },
    )
    .await
    .unwrap();
    actor
}

fn enqueue(
    actions: Vec<ActionRow>,
    feedback: Vec<FeedbackRow>,
    durable: Option<ractor::RpcReplyPort<()>>,
) -> PersistenceMsg {
    PersistenceMsg::Enqueue(vec![TickRows {
        persona_id: "persona-1".into(),
        actions,
        feedback,
        durable,
    }])
}

/// Fails unless each gap is at least its backoff and shorter than the
/// backoff plus `slack`.
fn assert_waited(gaps: &[Duration], backoffs: &[Duration], slack: Duration) {
    assert_eq!(gaps.len(), backoffs.len(), "attempts {gaps:?}");
    for (gap, backoff) in gaps.iter().zip(backoffs) {
        assert!(
            *gap >= *backoff && *gap < *backoff + slack,
            "waited {gap:?} where the backoff was {backoff:?} (gaps {gaps:?})"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_sink_down_four_times_gets_the_rows_once_after_the_doubling_backoff() {
    let sink = DownThenUp::new(4);
    // Retries happen on a flush tick once the backoff is over, so a retry
    // comes at most one interval late.
    let flush_interval = Duration::from_millis(50);
    let persistence = spawn(sink.clone(), flush_interval).await;
    let rows = vec![action(0), action(1), action(2)];
    let rating = vec![feedback()];

    // The reply comes only once the rows are durable, so this waits out
    // every retry.
    let durable = persistence
        .call(
            |reply| enqueue(rows.clone(), rating.clone(), Some(reply)),
            Some(REPLY_LIMIT),
        )
        .await
        .unwrap();
    assert!(matches!(durable, CallResult::Success(())), "no reply");

    // Doubling from 1 s, capped at 4 s.
    let seconds = Duration::from_secs;
    assert_waited(
        &sink.gaps(),
        &[seconds(1), seconds(2), seconds(4), seconds(4)],
        flush_interval + TIMER_GRANULARITY,
    );
    assert_eq!(*sink.actions.lock().unwrap(), rows, "every row, once");
    assert_eq!(*sink.feedback.lock().unwrap(), rating);
    let status = persistence
        .call(PersistenceMsg::GetStatus, Some(REPLY_LIMIT))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            status.failed_writes,
            status.written_actions,
            status.written_feedback,
            status.pending_actions,
            status.pending_feedback,
        ),
        (4, 3, 1, 0, 0)
    );
    persistence.stop_and_wait(None, None).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_stop_during_an_outage_drains_every_row_before_the_actor_ends() {
    let sink = DownThenUp::new(3);
    // No flush tick comes within the test: only the stop writes.
    let persistence = spawn(sink.clone(), Duration::from_secs(3600)).await;
    let rows = vec![action(0), action(1)];
    persistence
        .cast(enqueue(rows.clone(), Vec::new(), None))
        .unwrap();
    // A stop is handled before waiting messages, so first make sure the
    // rows are queued: the status answers after the enqueue was handled.
    let status = persistence
        .call(PersistenceMsg::GetStatus, Some(REPLY_LIMIT))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.pending_actions, 2);

    persistence.stop_and_wait(None, None).await.unwrap();

    // The final drain retried until the sink took the rows, sleeping the
    // doubling backoff in between.
    let seconds = Duration::from_secs;
    assert_waited(
        &sink.gaps(),
        &[seconds(1), seconds(2), seconds(4)],
        TIMER_GRANULARITY,
    );
    assert_eq!(*sink.actions.lock().unwrap(), rows, "every row, once");
}
