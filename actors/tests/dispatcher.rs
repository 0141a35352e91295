//! The dispatcher actor under tokio's paused clock: LLM rate slots evenly
//! spaced in virtual time, none while the kill-switch is on, tick permits
//! granted in order as they come back, and a draining dispatcher refusing
//! the ticks still waiting and answering `WhenIdle` once every permit is back.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use actors::runtime::dispatcher::{
    DispatcherActor, DispatcherArgs, DispatcherMsg, DispatcherStatus, Draining, TickPermit,
};
use actors::runtime::persistence::{PersistenceActor, PersistenceArgs};
use actors::sink::{Sink, SinkError};
use async_trait::async_trait;
use catalog::{ActionRow, FeedbackRow};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorRef};
use tokio::sync::watch;
use tokio::time::Instant;

/// Takes every row.
struct Accepting;

#[async_trait]
impl Sink for Accepting {
    async fn write_actions(&self, _: &str, _: &[ActionRow]) -> Result<(), SinkError> {
        Ok(())
    }
    async fn write_feedback(&self, _: &str, _: &[FeedbackRow]) -> Result<(), SinkError> {
        Ok(())
    }
}

async fn dispatcher(
    concurrency: usize,
    llm_per_minute: u32,
    paused: bool,
) -> (ActorRef<DispatcherMsg>, watch::Receiver<DispatcherStatus>) {
    let (persistence, _) = Actor::spawn(
        None,
        PersistenceActor,
        PersistenceArgs {
            sink: Arc::new(Accepting),
            flush_interval: Duration::from_secs(1),
            retry_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        },
    )
    .await
    .unwrap();
    let (board, status) = watch::channel(DispatcherStatus::default());
    let (dispatcher, _) = Actor::spawn(
        None,
        DispatcherActor,
        DispatcherArgs {
            persistence,
            concurrency,
            llm_per_minute,
            paused,
            row_batch_window: Duration::from_millis(20),
            board,
        },
    )
    .await
    .unwrap();
    (dispatcher, status)
}

async fn slot(dispatcher: &ActorRef<DispatcherMsg>) {
    let granted = dispatcher
        .call(DispatcherMsg::RequestLlmSlot, None)
        .await
        .unwrap();
    assert!(matches!(granted, CallResult::Success(())));
}

async fn permit(dispatcher: &ActorRef<DispatcherMsg>) -> Result<TickPermit, Draining> {
    match dispatcher
        .call(DispatcherMsg::RequestPermit, None)
        .await
        .unwrap()
    {
        CallResult::Success(answer) => answer,
        other => panic!("no answer: {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn llm_rate_slots_are_evenly_spaced_without_a_burst() {
    let (dispatcher, status) = dispatcher(4, 60, false).await;
    let began = Instant::now();
    let mut granted_at = Vec::new();
    for _ in 0..4 {
        slot(&dispatcher).await;
        granted_at.push(began.elapsed());
    }
    // 60 a minute with the 1 % margin: the first at once, then one every 1.01 s.
    for (index, at) in granted_at.iter().enumerate() {
        let expected = Duration::from_millis(1010) * index as u32;
        let off = at.abs_diff(expected);
        assert!(
            off < Duration::from_millis(5),
            "slot {index} at {at:?}, expected {expected:?}"
        );
    }
    assert_eq!(status.borrow().llm_requests, 4);
}

#[tokio::test(start_paused = true)]
async fn no_rate_slot_is_granted_while_the_kill_switch_is_on() {
    let (dispatcher, mut status) = dispatcher(4, 6000, true).await;
    let waiting = tokio::spawn({
        let dispatcher = dispatcher.clone();
        async move { slot(&dispatcher).await }
    });
    status
        .wait_for(|status| status.waiting_for_slot == 1)
        .await
        .unwrap();
    // A whole virtual hour later, the request still waits in the queue.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(!waiting.is_finished());
    assert_eq!(status.borrow().llm_requests, 0);
    dispatcher.cast(DispatcherMsg::Resume).unwrap();
    waiting.await.unwrap();
    assert_eq!(status.borrow().llm_requests, 1);
}

#[tokio::test(start_paused = true)]
async fn permits_come_back_when_dropped_and_a_drain_refuses_the_waiting() {
    let (dispatcher, mut status) = dispatcher(1, 6000, false).await;
    let first = permit(&dispatcher).await.unwrap();
    let second = tokio::spawn({
        let dispatcher = dispatcher.clone();
        async move { permit(&dispatcher).await }
    });
    status
        .wait_for(|status| status.waiting_for_permit == 1)
        .await
        .unwrap();
    assert_eq!(status.borrow().permits_in_use, 1);
    drop(first);
    let second = second.await.unwrap().unwrap();
    assert_eq!(status.borrow().permits_in_use, 1);

    let third = tokio::spawn({
        let dispatcher = dispatcher.clone();
        async move { permit(&dispatcher).await }
    });
    status
        .wait_for(|status| status.waiting_for_permit == 1)
        .await
        .unwrap();
    dispatcher.cast(DispatcherMsg::Drain).unwrap();
    assert!(matches!(third.await.unwrap(), Err(Draining)));
    let idle = tokio::spawn({
        let dispatcher = dispatcher.clone();
        async move { dispatcher.call(DispatcherMsg::WhenIdle, None).await }
    });
    status.wait_for(|status| status.draining).await.unwrap();
    drop(second);
    assert!(matches!(idle.await.unwrap(), Ok(CallResult::Success(()))));
    assert_eq!(status.borrow().permits_in_use, 0);
}
