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
        |settings| {
            let tuning = &mut settings.tuning;
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

/// A runner without a database does the same over the app's internal API:
/// the claim of due personas, the heartbeat, the switch and leaving.
#[tokio::test]
async fn the_internal_api_claims_due_personas_and_keeps_the_fleet() {
    use actors::internal_api::InternalApi;
    use actors::runtime::TickLedger as _;
    use actors::runtime::fleet::Fleet as _;
    use catalog::SeedSecret;
    use catalog::internal_api::{FleetSwitch, ReplicaBeat};

    let gateway = gateway_with_personas().await;
    let personas = gateway.store.list_personas(now()).await.unwrap().len();
    let api = InternalApi::new(&gateway.url, "key".into(), SeedSecret::dev_fallback()).unwrap();
    let lease = Duration::from_secs(30);

    let first = api.claim_due("r1", lease, 3).await.unwrap();
    let rest = api.claim_due("r2", lease, 1000).await.unwrap();
    assert_eq!(first.len(), 3);
    assert_eq!(rest.len(), personas - 3);
    assert!(
        first.iter().all(|id| !rest.contains(id)),
        "no persona twice"
    );

    // Given back with its next due time, it is not claimed again before then.
    let next = now() + chrono::TimeDelta::hours(1);
    api.release(&first[0], "r1", Some(next)).await.unwrap();
    assert!(api.claim_due("r3", lease, 1000).await.unwrap().is_empty());

    let beat = ReplicaBeat {
        id: "r1".into(),
        host: "test".into(),
        started_at: now(),
        ticking: 1,
        period_ms: 1000,
    };
    let view = api.heartbeat(&beat).await.unwrap();
    assert_eq!(view.replicas.len(), 1);
    assert_eq!(view.replicas[0].ticking, 1);
    let switch = FleetSwitch {
        paused: true,
        reason: "test".into(),
        set_by: "r1".into(),
        set_at: now(),
    };
    assert!(api.set_switch(&switch).await.unwrap().paused());
    assert_eq!(api.view().await.unwrap().switch, Some(switch));
    api.leave("r1").await.unwrap();
    assert!(api.view().await.unwrap().replicas.is_empty());

    // A claim without a limit is refused, naming what is wrong.
    let refused = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/personas/internal/leases/claim-due",
            gateway.url
        ))
        .header(catalog::internal_api::SERVICE_KEY_HEADER, "key")
        .json(&serde_json::json!({ "owner": "r4", "seconds": 30 }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("a limit between 1 and 1000"),
        "{body}"
    );
}
