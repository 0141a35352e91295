//! The fleet's shared state in the store: the kill-switch (who, when, why;
//! it outlives every replica) and the replicas' heartbeats, live until
//! they miss three of their periods.

use catalog::internal_api::{FleetSwitch, ReplicaBeat};
use chrono::TimeDelta;
use gateway::store::now;

use crate::helpers::backends;

fn beat(id: &str, period_ms: u64, ticking: u64) -> ReplicaBeat {
    ReplicaBeat {
        id: id.to_owned(),
        host: "test-host".to_owned(),
        started_at: now(),
        ticking,
        period_ms,
    }
}

#[tokio::test]
async fn the_kill_switch_is_one_row_that_says_who_set_it() {
    for db in backends().await {
        let store = &db.store;
        assert_eq!(store.fleet_switch().await.unwrap(), None, "{}", db.label);
        let on = FleetSwitch {
            paused: true,
            reason: "a bad deploy".to_owned(),
            set_by: "POST /pause on runner-a".to_owned(),
            set_at: now(),
        };
        store.set_fleet_switch(&on).await.unwrap();
        assert_eq!(store.fleet_switch().await.unwrap(), Some(on.clone()));
        let off = FleetSwitch {
            paused: false,
            set_by: "POST /resume on runner-b".to_owned(),
            ..on
        };
        store.set_fleet_switch(&off).await.unwrap();
        let view = store.fleet_view(now()).await.unwrap();
        assert_eq!(view.switch, Some(off), "{}", db.label);
        assert!(!view.paused());
        db.finish().await;
    }
}

#[tokio::test]
async fn a_replica_is_live_until_it_misses_three_beats_or_leaves() {
    for db in backends().await {
        let store = &db.store;
        let at = now();
        store
            .replica_heartbeat(&beat("a", 1000, 2), at)
            .await
            .unwrap();
        store
            .replica_heartbeat(&beat("b", 10_000, 0), at)
            .await
            .unwrap();
        let live = store.live_replicas(at).await.unwrap();
        assert_eq!(live.len(), 2, "{}", db.label);
        assert_eq!(live.iter().find(|r| r.id == "a").unwrap().ticking, 2);

        let later = at + TimeDelta::seconds(4);
        let live = store.live_replicas(later).await.unwrap();
        assert_eq!(
            live.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["b"],
            "{}: a missed three 1 s beats",
            db.label
        );
        // A beat brings it back, with its new count.
        store
            .replica_heartbeat(&beat("a", 1000, 1), later)
            .await
            .unwrap();
        assert_eq!(store.live_replicas(later).await.unwrap().len(), 2);

        store.remove_replica("b").await.unwrap();
        assert_eq!(store.live_replicas(later).await.unwrap().len(), 1);
        db.finish().await;
    }
}
