//! Rate-limit adherence: the runner against a fake Anthropic API that takes
//! 2 s per answer and allows 60 requests per sliding minute, answering the
//! real 429 above it. Personas tick back to back for the whole run with the
//! runner's limit set to the same 60 per minute; the figures are the
//! requests per minute the API accepted and the 429s it had to send.
//!
//! Two rows, one run: one replica, then three replicas on one database
//! (each takes a third of the fleet's limit from the heartbeat table). The
//! three start with the fleet's kill-switch on and are let go together once
//! each counts three live replicas, as an operator would start a fleet.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::llm::anthropic::{AnthropicLlm, DEFAULT_MODEL};
use actors::llm::retry::RetryPolicy;
use actors::runtime::RunnerSystem;
use actors::runtime::persona::Activity;
use actors::testing::{FakeModel, FakeServer, ModelOptions};
use runner::wiring::Provider;

use crate::in_process::InProcessApp;

const LIMIT_PER_MINUTE: u32 = 60;
const LATENCY: Duration = Duration::from_secs(2);
const PERSONAS: usize = 20;

/// One row: what the API saw from `replicas` runner replicas.
struct Row {
    replicas: usize,
    answered: u64,
    per_minute: f64,
    busiest: usize,
    over_limit: u64,
}

/// `quick`: 70 s per row instead of 3 minutes.
pub async fn run(quick: bool) -> anyhow::Result<()> {
    let length = if quick {
        Duration::from_secs(70)
    } else {
        Duration::from_secs(180)
    };
    println!(
        "rate limit: fake LLM with {:.0} s latency and {LIMIT_PER_MINUTE} requests per sliding minute (429 above it), PERSONA_LLM_RPM={LIMIT_PER_MINUTE}, {:.0} s per row",
        LATENCY.as_secs_f64(),
        length.as_secs_f64()
    );
    let rows = [measure(1, length).await?, measure(3, length).await?];
    println!(
        "{:>8} {:>9} {:>14} {:>9} {:>15} {:>5}",
        "replicas", "answered", "achieved/min", "of limit", "busiest 60 s", "429s"
    );
    for row in rows {
        println!(
            "{:>8} {:>9} {:>14.1} {:>8.1}% {:>15} {:>5}",
            row.replicas,
            row.answered,
            row.per_minute,
            row.per_minute / f64::from(LIMIT_PER_MINUTE) * 100.0,
            row.busiest,
            row.over_limit
        );
    }
    Ok(())
}

async fn measure(replicas: usize, length: Duration) -> anyhow::Result<Row> {
    let model = Arc::new(FakeModel::new(ModelOptions {
        latency: LATENCY,
        per_minute: Some(LIMIT_PER_MINUTE),
        ..ModelOptions::default()
    })?);
    let server = FakeServer::start_model(model.clone()).await?;
    let llm = Arc::new(AnthropicLlm::new(
        "sk-ant-bench-not-a-key".into(),
        DEFAULT_MODEL.into(),
        Some(server.base_url()),
        RetryPolicy::default(),
    )?);
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("rate.db").display());
    // More personas than could ever be served: demand always exceeds the limit.
    let app = InProcessApp::start(&url, PERSONAS).await?;
    let mut systems = Vec::with_capacity(replicas);
    for index in 0..replicas {
        let mut settings =
            app.settings(Arc::new(Provider::Hosted(llm.clone())), 8, LIMIT_PER_MINUTE);
        settings.tuning.replica_id = format!("bench-replica-{index}");
        // Passes heartbeat (and tick the personas due at start); the loop
        // below keeps every persona ticking after that.
        settings.tuning.schedule_every = Some(Duration::from_millis(500));
        settings.tuning.paused = true;
        systems.push(runner::system::start(app.store.clone(), settings).await?);
    }
    wait_for_fleet(&systems, replicas).await?;
    systems[0]
        .handles
        .set_kill_switch(false, "persona-bench", "the fleet is up")
        .await?;

    let began = Instant::now();
    while began.elapsed() < length {
        // Keep every idle persona ticking, each replica its own share of
        // them, so requests always wait at the gate.
        for (index, system) in systems.iter().enumerate() {
            let mut snapshot = system.snapshot().await?;
            // The same order on every replica, so their shares do not overlap.
            snapshot
                .personas
                .sort_by(|a, b| a.persona_id.cmp(&b.persona_id));
            for entry in snapshot.personas.iter().skip(index).step_by(replicas) {
                let idle = entry
                    .status
                    .as_ref()
                    .is_some_and(|status| status.activity == Activity::Idle);
                if idle {
                    // Refused when another replica's pass leased it: fine,
                    // that one ticks it.
                    let _ = system.start_tick(&entry.persona_id).await;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stats = model.stats();
    for system in systems {
        system.shutdown(Duration::from_secs(1)).await;
    }
    app.stop().await?;

    // The rate over whole minutes after the first request, and the busiest
    // sliding minute anywhere in the run.
    let accepted = &stats.accepted_at;
    let first = accepted.first().copied().unwrap_or(began);
    let span = accepted
        .last()
        .map_or(Duration::ZERO, |last| last.duration_since(first));
    let per_minute = if span.is_zero() {
        0.0
    } else {
        (accepted.len().saturating_sub(1)) as f64 / span.as_secs_f64() * 60.0
    };
    let busiest = accepted
        .iter()
        .enumerate()
        .map(|(index, start)| {
            accepted[index..]
                .iter()
                .take_while(|at| at.duration_since(*start) < Duration::from_secs(60))
                .count()
        })
        .max()
        .unwrap_or(0);
    Ok(Row {
        replicas,
        answered: stats.answered,
        per_minute,
        busiest,
        over_limit: stats.over_limit,
    })
}

/// Waits (bounded) until every replica counts `replicas` live ones.
async fn wait_for_fleet(systems: &[RunnerSystem], replicas: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !systems
        .iter()
        .all(|system| system.handles.dispatcher_status().replicas == replicas)
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the replicas did not see each other within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
