//! Two runner replicas on one database, in one process, through the
//! production assembly path: the schedule's atomic claim, the fleet's
//! kill-switch and the split of the LLM quota.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actors::runtime::RunnerSystem;
use gateway::store::now;
use runner::wiring::{Provider, StoreSink};

use crate::helpers::{Gateway, eventually, gateway_with_personas};
use crate::runtime::start_actors_with;

const PASS: Duration = Duration::from_millis(100);
const FLEET_RPM: u32 = 6000;

async fn replica(gateway: &Gateway, name: &str) -> RunnerSystem {
    start_actors_with(
        gateway,
        Arc::new(Provider::Scripted),
        Arc::new(StoreSink(gateway.store.clone())),
        |tuning| {
            tuning.replica_id = name.to_owned();
            tuning.schedule_every = Some(PASS);
            tuning.concurrency = 2;
            tuning.llm_per_minute = FLEET_RPM;
        },
    )
    .await
}

/// Ended ticks per persona id, read from the rows.
async fn ended_ticks(gateway: &Gateway) -> HashMap<String, i64> {
    let url = format!("sqlite://{}", gateway.db_path().display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT persona_id, count(*) FROM persona_ticks WHERE finished_at IS NOT NULL GROUP BY persona_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows.into_iter().collect()
}

/// Waits until every replica's heartbeat is `passes` schedule passes past
/// `since`: the schedule has had that many chances to tick again.
async fn passes_after(gateway: &Gateway, since: chrono::DateTime<chrono::Utc>, passes: u32) {
    let mark = since + chrono::TimeDelta::from_std(PASS * passes).unwrap();
    eventually(Duration::from_secs(30), "more schedule passes", || async {
        let live = gateway.store.live_replicas(now()).await.unwrap();
        live.len() == 2 && live.iter().all(|replica| replica.last_seen_at > mark)
    })
    .await;
}

#[tokio::test]
async fn two_replicas_tick_each_due_persona_once_and_share_the_switch_and_the_quota() {
    let gateway = gateway_with_personas().await;
    let personas = gateway.store.list_personas(now()).await.unwrap().len();
    let a = replica(&gateway, "replica-a").await;
    let b = replica(&gateway, "replica-b").await;

    eventually(Duration::from_secs(120), "every persona ticked", || async {
        ended_ticks(&gateway).await.len() == personas
    })
    .await;
    passes_after(&gateway, now(), 5).await;
    let ticks = ended_ticks(&gateway).await;
    assert!(
        ticks.values().all(|count| *count == 1),
        "one tick per persona in its due window, however the replicas raced: {ticks:?}"
    );

    for system in [&a, &b] {
        let status = system.handles.dispatcher_status();
        assert_eq!(status.replicas, 2, "each replica counts both");
        assert_eq!(
            status.llm_share_per_minute,
            f64::from(FLEET_RPM) / 2.0,
            "and takes half the fleet's quota"
        );
    }

    // A kill-switch set on one replica stops the other at its next pass,
    // and says who set it and why.
    a.handles
        .set_kill_switch(true, "a test", "a bad deploy")
        .await
        .unwrap();
    eventually(
        Duration::from_secs(10),
        "replica b follows the switch",
        || async { b.handles.dispatcher_status().paused },
    )
    .await;
    let view = b.handles.fleet().await.unwrap();
    let switch = view.switch.unwrap();
    assert_eq!(switch.reason, "a bad deploy");
    assert_eq!(switch.set_by, "a test on replica-a");

    // Lifted on the other replica, it lifts on both.
    b.handles
        .set_kill_switch(false, "a test", "fixed")
        .await
        .unwrap();
    eventually(
        Duration::from_secs(10),
        "replica a follows the lift",
        || async { !a.handles.dispatcher_status().paused },
    )
    .await;

    // A replica that stops leaves: the other takes the whole quota.
    a.shutdown(Duration::from_secs(5)).await;
    eventually(
        Duration::from_secs(10),
        "replica b takes the whole quota",
        || async { b.handles.dispatcher_status().llm_share_per_minute == f64::from(FLEET_RPM) },
    )
    .await;
    b.shutdown(Duration::from_secs(5)).await;
}
