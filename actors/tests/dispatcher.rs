//! The dispatcher actor under tokio's paused clock: LLM rate slots evenly
//! spaced in virtual time, none while the kill-switch is on, tick permits
//! granted in order as they come back, and a draining dispatcher refusing
//! the ticks still waiting and answering `WhenIdle` once every permit is back;
//! and the daily budgets: a persona whose budget is spent gets no permit and
//! no slot, the fleet's spent budget sets the kill-switch (reason budget)
//! until an operator lifts it, also when it was spent before a restart.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use actors::runtime::budget::{BudgetBook, BudgetSpent, Budgets, Limit, Scope, Spend};
use actors::runtime::dispatcher::{
    DispatcherActor, DispatcherArgs, DispatcherMsg, DispatcherStatus, NoPermit, TickPermit,
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
    with_budget(
        concurrency,
        llm_per_minute,
        paused,
        book(Budgets::default(), []),
    )
    .await
}

fn book(budgets: Budgets, spent: impl IntoIterator<Item = (String, Spend)>) -> BudgetBook {
    BudgetBook::new(budgets, chrono::Utc::now().date_naive(), spent)
}

async fn with_budget(
    concurrency: usize,
    llm_per_minute: u32,
    paused: bool,
    budget: BudgetBook,
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
            replicas: 1,
            paused,
            row_batch_window: Duration::from_millis(20),
            budget,
            board,
        },
    )
    .await
    .unwrap();
    (dispatcher, status)
}

async fn slot(dispatcher: &ActorRef<DispatcherMsg>) {
    slot_for(dispatcher, "anna").await.unwrap();
}

async fn slot_for(dispatcher: &ActorRef<DispatcherMsg>, persona: &str) -> Result<(), BudgetSpent> {
    match dispatcher
        .call(
            |reply| DispatcherMsg::RequestLlmSlot(persona.to_owned(), reply),
            None,
        )
        .await
        .unwrap()
    {
        CallResult::Success(answer) => answer,
        other => panic!("no answer: {other:?}"),
    }
}

async fn permit(dispatcher: &ActorRef<DispatcherMsg>) -> Result<TickPermit, NoPermit> {
    permit_for(dispatcher, "anna").await
}

async fn permit_for(
    dispatcher: &ActorRef<DispatcherMsg>,
    persona: &str,
) -> Result<TickPermit, NoPermit> {
    match dispatcher
        .call(
            |reply| DispatcherMsg::RequestPermit(persona.to_owned(), reply),
            None,
        )
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
    assert!(matches!(third.await.unwrap(), Err(NoPermit::Draining)));
    let idle = tokio::spawn({
        let dispatcher = dispatcher.clone();
        async move { dispatcher.call(DispatcherMsg::WhenIdle, None).await }
    });
    status.wait_for(|status| status.draining).await.unwrap();
    drop(second);
    assert!(matches!(idle.await.unwrap(), Ok(CallResult::Success(()))));
    assert_eq!(status.borrow().permits_in_use, 0);
}

fn spend(usd: f64, tokens: u64) -> Spend {
    Spend { usd, tokens }
}

#[tokio::test]
async fn a_persona_whose_budget_is_spent_gets_no_permit_and_no_slot_and_the_others_do() {
    let budgets = Budgets {
        persona: Limit {
            usd: Some(0.10),
            tokens: None,
        },
        fleet: Limit::default(),
    };
    let (dispatcher, mut status) = with_budget(4, 6000, false, book(budgets, [])).await;
    slot_for(&dispatcher, "anna").await.unwrap();
    dispatcher
        .cast(DispatcherMsg::Spent("anna".into(), spend(0.10, 500)))
        .unwrap();
    let refused = slot_for(&dispatcher, "anna").await.unwrap_err();
    assert_eq!(refused.scope, Scope::Persona);
    assert!(refused.to_string().starts_with("budget: "), "{refused}");
    assert!(matches!(
        permit_for(&dispatcher, "anna").await,
        Err(NoPermit::Budget(BudgetSpent {
            scope: Scope::Persona,
            ..
        }))
    ));
    slot_for(&dispatcher, "ben").await.unwrap();
    let _ben = permit_for(&dispatcher, "ben").await.unwrap();
    let status = status
        .wait_for(|status| status.budget_refusals == 2)
        .await
        .unwrap();
    assert_eq!(status.fleet_spent, spend(0.10, 500));
    assert!(!status.paused, "a persona's budget is not the fleet's");
}

#[tokio::test]
async fn the_fleet_budget_sets_the_kill_switch_until_an_operator_lifts_it() {
    let budgets = Budgets {
        persona: Limit::default(),
        fleet: Limit {
            usd: None,
            tokens: Some(1000),
        },
    };
    let (dispatcher, mut status) = with_budget(4, 6000, false, book(budgets, [])).await;
    dispatcher
        .cast(DispatcherMsg::Spent("anna".into(), spend(0.0, 600)))
        .unwrap();
    dispatcher
        .cast(DispatcherMsg::Spent("ben".into(), spend(0.0, 400)))
        .unwrap();
    status
        .wait_for(|status| status.paused && status.paused_by_budget)
        .await
        .unwrap();
    // A running tick's next request is refused, not left waiting a day.
    let refused = slot_for(&dispatcher, "carl").await.unwrap_err();
    assert_eq!(refused.scope, Scope::Fleet);
    // A new tick waits, as under the operator's kill-switch.
    let waiting = tokio::spawn({
        let dispatcher = dispatcher.clone();
        async move { permit_for(&dispatcher, "carl").await }
    });
    status
        .wait_for(|status| status.waiting_for_permit == 1)
        .await
        .unwrap();
    dispatcher.cast(DispatcherMsg::Resume).unwrap();
    let _permit = waiting.await.unwrap().unwrap();
    slot_for(&dispatcher, "carl").await.unwrap();
    dispatcher
        .cast(DispatcherMsg::Spent("carl".into(), spend(0.0, 100)))
        .unwrap();
    slot_for(&dispatcher, "carl").await.unwrap();
    let status = *status.borrow();
    assert!(
        !status.paused && !status.paused_by_budget,
        "lifted by the operator, the fleet's budget is waived for the rest of the day"
    );
    assert_eq!(status.fleet_spent.tokens, 1100);
}

#[tokio::test]
async fn a_fleet_budget_spent_before_a_restart_holds_the_kill_switch_at_start() {
    let budgets = Budgets {
        persona: Limit::default(),
        fleet: Limit {
            usd: Some(1.0),
            tokens: None,
        },
    };
    let spent = [
        ("anna".to_owned(), spend(0.7, 0)),
        ("ben".to_owned(), spend(0.3, 0)),
    ];
    let (dispatcher, status) = with_budget(4, 6000, false, book(budgets, spent)).await;
    let status = *status.borrow();
    assert!(status.paused && status.paused_by_budget);
    assert_eq!(
        slot_for(&dispatcher, "anna").await.unwrap_err().scope,
        Scope::Fleet
    );
}

/// The fleet's switch comes with each schedule pass; a pass that read it
/// before an operator's command here does not undo that command, and the
/// share of the LLM quota follows the live replicas: three at 60/min space
/// this replica's slots 3.03 s apart.
#[tokio::test(start_paused = true)]
async fn the_fleet_sets_the_switch_and_the_share_but_a_stale_pass_does_not() {
    let (dispatcher, mut status) = dispatcher(4, 60, false).await;
    dispatcher.cast(DispatcherMsg::Pause).unwrap();
    let commands = status
        .wait_for(|status| status.paused)
        .await
        .unwrap()
        .switch_commands;
    // Read before the pause: ignored.
    dispatcher
        .cast(DispatcherMsg::FleetSeen {
            paused: false,
            replicas: 1,
            after: commands - 1,
        })
        .unwrap();
    // A pass begun after it: followed.
    dispatcher
        .cast(DispatcherMsg::FleetSeen {
            paused: true,
            replicas: 3,
            after: commands,
        })
        .unwrap();
    let seen = *status
        .wait_for(|status| status.replicas == 3)
        .await
        .unwrap();
    assert!(
        seen.paused,
        "the stale pass did not lift the operator's pause"
    );
    assert_eq!(seen.llm_share_per_minute, 20.0);
    dispatcher
        .cast(DispatcherMsg::FleetSeen {
            paused: false,
            replicas: 3,
            after: commands,
        })
        .unwrap();
    status.wait_for(|status| !status.paused).await.unwrap();

    let began = Instant::now();
    slot(&dispatcher).await;
    slot(&dispatcher).await;
    let gap = began.elapsed();
    assert!(
        gap.abs_diff(Duration::from_millis(3030)) < Duration::from_millis(5),
        "a third of 60/min with the margin: {gap:?}"
    );
}
