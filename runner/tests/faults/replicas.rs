//! Three `persona runner --db postgres://…` replicas on one private
//! PostgreSQL, scheduling on their own (no operator starts a tick): the
//! fleet's kill-switch set at start holds on all three; lifted on one, they
//! share the due personas; one replica is SIGKILLed mid-tick and restarted;
//! a kill-switch set on another stops new ticks everywhere.
//!
//! Asserted: every persona ticks exactly once in its due window (ticks a
//! SIGKILL cut short are aborted and their personas tick again after the
//! lease), no tick starts once every replica reports the switch, no row is
//! lost or doubled, and no tick is left running.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::testing::{FakeModel, FakeServer, ModelOptions};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Connection as _;

use crate::helpers::eventually;
use crate::oracle::{self, Outcome};
use crate::private_pg::{PrivatePostgres, free_port};
use crate::procs::{self, Process};

/// `TICK_INTERVAL_MS`; the runner takes no less than a second.
const PASS_MS: u64 = 1000;

/// What the scenario saw, beside the oracle's counts.
pub struct ReplicasOutcome {
    pub outcome: Outcome,
    pub personas: usize,
    /// Non-aborted ticks per persona (each must be 1).
    pub ticks_per_persona: Vec<(String, i64)>,
    /// Ticks whose row started after every replica reported the switch.
    pub started_while_paused: i64,
    /// From `POST /pause` on one replica until all three reported it.
    pub switch_followed_in: Duration,
    pub killed_mid_tick: usize,
}

pub async fn scenario(postgres: &PrivatePostgres) -> ReplicasOutcome {
    let (database, database_url) = postgres.create_database("replicas").await;
    // Slow enough answers that a tick is caught mid-way; no injected faults:
    // the faults here are the replicas'.
    let model = Arc::new(
        FakeModel::new(ModelOptions {
            latency: Duration::from_millis(250),
            ..ModelOptions::default()
        })
        .unwrap(),
    );
    let llm = FakeServer::start_model(model.clone()).await.unwrap();

    let gateway_addr = format!("127.0.0.1:{}", free_port());
    let api = format!("http://{gateway_addr}");
    let dir = tempfile::tempdir().unwrap();
    let (gateway, _) = Process::start(
        "gateway",
        dir.path(),
        &["gateway", "--addr", &gateway_addr],
        &[("DATABASE_URL", database_url.clone())],
        "gateway listening on",
    );
    procs::run(dir.path(), &["seed", "--api", &api], &[]);

    let runner_env = |paused: bool| {
        vec![
            ("ANTHROPIC_API_KEY", "sk-ant-fault-suite".to_owned()),
            ("ANTHROPIC_BASE_URL", llm.base_url()),
            ("PERSONA_LLM_RPM", "100000".to_owned()),
            ("PERSONA_CONCURRENCY", "1".to_owned()),
            ("TICK_INTERVAL_MS", PASS_MS.to_string()),
            ("PERSONA_LEASE_SECS", "3".to_owned()),
            ("PERSONA_TICK_TIMEOUT_SECS", "60".to_owned()),
            ("PERSONA_SHUTDOWN_GRACE_SECS", "20".to_owned()),
            ("RUNNER_PAUSED", paused.to_string()),
        ]
    };
    let start_replica = |paused: bool| {
        let (process, line) = Process::start(
            "runner",
            dir.path(),
            &[
                "runner",
                "--db",
                &database_url,
                "--app-url",
                &api,
                "--control-addr",
                "127.0.0.1:0",
                "--llm",
                "anthropic",
            ],
            &runner_env(paused),
            "control API listening on",
        );
        (process, line.split_whitespace().next().unwrap().to_owned())
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    // The first replica starts with the fleet's switch on; the others find
    // it set and hold too.
    let mut replicas = vec![
        start_replica(true),
        start_replica(false),
        start_replica(false),
    ];
    for (_, control) in &replicas {
        eventually(
            Duration::from_secs(20),
            "a replica sees the fleet",
            || async {
                supervisor(&http, control).await.is_some_and(|view| {
                    view["dispatcher"]["paused"] == true
                        && view["fleet"]["replicas"].as_array().map(Vec::len) == Some(3)
                })
            },
        )
        .await;
    }
    let held_since = Utc::now();
    passes_after(&http, &replicas[0].1, held_since, 3).await;
    assert_eq!(
        count(&database_url, "SELECT count(*) FROM persona_ticks").await,
        0,
        "the switch set at start holds on every replica"
    );

    // Lifted on the third replica, the fleet ticks.
    switch(&http, &replicas[2].1, "resume").await;
    let personas = count(&database_url, "SELECT count(*) FROM personas").await as usize;

    // SIGKILL the first replica while it runs a tick, and start it again.
    let (_, first) = &replicas[0];
    eventually(
        Duration::from_secs(30),
        "the first replica runs a tick",
        || async {
            supervisor(&http, first)
                .await
                .is_some_and(|view| ticking(&view) > 0)
        },
    )
    .await;
    let killed_mid_tick = supervisor(&http, first)
        .await
        .map_or(0, |view| ticking(&view));
    let (process, _) = replicas.remove(0);
    process.kill();
    replicas.push(start_replica(false));

    // A kill-switch set on the second replica (now first in the list)
    // stops new ticks on all of them.
    eventually(Duration::from_secs(60), "some personas ticked", || async {
        count(
            &database_url,
            "SELECT count(*) FROM persona_ticks WHERE status <> 'running'",
        )
        .await
            >= 3
    })
    .await;
    let asked = Instant::now();
    switch(&http, &replicas[0].1, "pause").await;
    for (_, control) in &replicas {
        eventually(
            Duration::from_secs(10),
            "a replica follows the switch",
            || async {
                supervisor(&http, control)
                    .await
                    .is_some_and(|view| view["dispatcher"]["paused"] == true)
            },
        )
        .await;
    }
    let switch_followed_in = asked.elapsed();
    let all_paused = Utc::now();
    passes_after(&http, &replicas[0].1, all_paused, 3).await;
    let started_while_paused = ticks_started_after(&database_url, all_paused).await;

    switch(&http, &replicas[1].1, "resume").await;
    eventually(Duration::from_secs(120), "every persona ticked once", || async {
        count(
            &database_url,
            "SELECT count(DISTINCT persona_id) FROM persona_ticks WHERE status NOT IN ('running', 'aborted')",
        )
        .await as usize
            == personas
    })
    .await;
    // The stale sweep of any replica's next passes ends the killed tick.
    eventually(Duration::from_secs(30), "no tick left running", || async {
        count(
            &database_url,
            "SELECT count(*) FROM persona_ticks WHERE status = 'running'",
        )
        .await
            == 0
    })
    .await;
    for (process, _) in replicas {
        assert_eq!(
            process.terminate(Duration::from_secs(60)).await,
            Some(0),
            "a replica's exit code"
        );
    }
    gateway.kill();

    let ticks_per_persona = {
        let mut db = sqlx::PgConnection::connect(&database_url).await.unwrap();
        sqlx::query_as(
            "SELECT persona_id, count(*) FROM persona_ticks WHERE status <> 'aborted' \
             GROUP BY persona_id ORDER BY persona_id",
        )
        .fetch_all(&mut db)
        .await
        .unwrap()
    };
    let outcome = oracle::count(&database_url, &model).await;
    postgres.drop_database(&database).await;
    ReplicasOutcome {
        outcome,
        personas,
        ticks_per_persona,
        started_while_paused,
        switch_followed_in,
        killed_mid_tick,
    }
}

async fn supervisor(http: &reqwest::Client, control: &str) -> Option<Value> {
    let response = http
        .get(format!("{control}/supervisor"))
        .send()
        .await
        .ok()?;
    response.json().await.ok()
}

fn ticking(view: &Value) -> usize {
    view["personas"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|persona| persona["state"] == "ticking")
        .count()
}

async fn switch(http: &reqwest::Client, control: &str, to: &str) {
    let response = http
        .post(format!("{control}/{to}?reason=fault+suite"))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "POST /{to}: {}",
        response.status()
    );
}

/// Waits until every live replica's heartbeat is `passes` passes past
/// `since`, as `control` sees the fleet: each had that many chances to
/// start a tick.
async fn passes_after(http: &reqwest::Client, control: &str, since: DateTime<Utc>, passes: u32) {
    let mark = since + chrono::TimeDelta::milliseconds((PASS_MS * u64::from(passes)) as i64);
    eventually(Duration::from_secs(20), "more schedule passes", || async {
        supervisor(http, control).await.is_some_and(|view| {
            let replicas = view["fleet"]["replicas"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            replicas.len() == 3
                && replicas.iter().all(|replica| {
                    replica["lastSeenAt"]
                        .as_str()
                        .and_then(|at| at.parse::<DateTime<Utc>>().ok())
                        .is_some_and(|at| at > mark)
                })
        })
    })
    .await;
}

/// Tick rows started after `after`.
async fn ticks_started_after(database_url: &str, after: DateTime<Utc>) -> i64 {
    let mut db = sqlx::PgConnection::connect(database_url).await.unwrap();
    sqlx::query_scalar("SELECT count(*) FROM persona_ticks WHERE started_at > $1")
        .bind(after)
        .fetch_one(&mut db)
        .await
        .unwrap()
}

async fn count(database_url: &str, sql: &'static str) -> i64 {
    let mut db = sqlx::PgConnection::connect(database_url).await.unwrap();
    sqlx::query_scalar(sql).fetch_one(&mut db).await.unwrap()
}
