//! The whole loop: N personas × the scripted LLM × the in-process gateway,
//! on SQLite and on PostgreSQL. Every persona first ticks once to log in
//! (timed apart), then R more times, each persona's next tick starting as
//! its last one ends; the figures are tool calls/s, ticks/s, the p50/p99 tool
//! latency the runner recorded, and the process's CPU seconds (runner and
//! gateway together) per 1,000 tool calls.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::runtime::persona::TickSummary;
use anyhow::bail;
use catalog::TickStatus;
use runner::system::RunnerSystem;
use runner::wiring::Provider;

use crate::in_process::InProcessApp;
use crate::measure::{Latencies, cpu_time};
use crate::scratch_db::ScratchPostgres;

/// Ticks running at once (the default `PERSONA_CONCURRENCY` is lower; the
/// scripted LLM answers at once, so more ticks keep both cores busy).
const CONCURRENCY: usize = 16;

struct Figures {
    ticks: usize,
    failed: usize,
    tool_calls: usize,
    elapsed: Duration,
    cpu: Duration,
    latencies: Latencies,
    /// The untimed first round, which logs every persona in.
    login_round: Duration,
}

/// `quick`: 20 personas × 3 timed rounds instead of 100 × 10.
pub async fn run(quick: bool) -> anyhow::Result<()> {
    let (personas, rounds) = if quick { (20, 3) } else { (100, 10) };
    println!(
        "whole loop: {personas} personas x {rounds} rounds, scripted LLM, in-process gateway, {CONCURRENCY} ticks at once"
    );
    println!(
        "{:<9} {:>6} {:>7} {:>11} {:>8} {:>8} {:>16} {:>12}",
        "backend",
        "ticks",
        "failed",
        "tool calls",
        "calls/s",
        "ticks/s",
        "p50/p99 tool ms",
        "login round"
    );
    let dir = tempfile::tempdir()?;
    let sqlite_url = format!("sqlite://{}", dir.path().join("loop.db").display());
    let sqlite = measure(&sqlite_url, personas, rounds).await?;
    print_row("sqlite", &sqlite);
    let postgres = match std::env::var("TEST_POSTGRES_URL") {
        Ok(url) => {
            let scratch = ScratchPostgres::create(&url).await?;
            let figures = measure(scratch.url(), personas, rounds).await;
            scratch.drop_database().await?;
            let figures = figures?;
            print_row("postgres", &figures);
            Some(figures)
        }
        Err(_) => {
            println!("postgres: TEST_POSTGRES_URL is not set, skipped");
            None
        }
    };
    println!(
        "CPU seconds per 1,000 tool calls: sqlite {:.2}{}",
        cpu_per_thousand(&sqlite),
        postgres
            .as_ref()
            .map(|pg| format!(", postgres {:.2}", cpu_per_thousand(pg)))
            .unwrap_or_default()
    );
    if let Some(pg) = &postgres {
        println!(
            "postgres / sqlite: {:.2}x tool calls/s",
            rate(pg.tool_calls, pg.elapsed) / rate(sqlite.tool_calls, sqlite.elapsed)
        );
    }
    Ok(())
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

fn cpu_per_thousand(figures: &Figures) -> f64 {
    figures.cpu.as_secs_f64() * 1000.0 / figures.tool_calls.max(1) as f64
}

fn print_row(label: &str, figures: &Figures) {
    println!(
        "{label:<9} {:>6} {:>7} {:>11} {:>8.0} {:>8.1} {:>12.0}/{:<3.0} {:>10.1} s",
        figures.ticks,
        figures.failed,
        figures.tool_calls,
        rate(figures.tool_calls, figures.elapsed),
        rate(figures.ticks, figures.elapsed),
        figures.latencies.percentile_ms(50.0),
        figures.latencies.percentile_ms(99.0),
        figures.login_round.as_secs_f64(),
    );
}

async fn measure(url: &str, personas: usize, rounds: usize) -> anyhow::Result<Figures> {
    let app = InProcessApp::start(url, personas).await?;
    let system = runner::system::start(
        app.store.clone(),
        app.settings(Arc::new(Provider::Scripted), CONCURRENCY, 1_000_000),
    )
    .await?;
    // The first tick of every persona logs it in (argon2, slow on purpose);
    // a daemon pays that once per token lifetime, so it is kept apart.
    let began = Instant::now();
    let first = keep_ticking(&system, &app.persona_ids, 1).await?;
    let login_round = began.elapsed();
    let cpu_before = cpu_time();
    let began = Instant::now();
    let summaries = keep_ticking(&system, &app.persona_ids, rounds).await?;
    let elapsed = began.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_before);
    system.shutdown(Duration::from_secs(10)).await;
    let mut samples = Vec::new();
    for summary in &summaries {
        for action in app.store.tick_actions(&summary.tick_id).await? {
            samples.push(Duration::from_millis(action.latency_ms));
        }
    }
    app.stop().await?;
    Ok(Figures {
        ticks: summaries.len(),
        failed: summaries
            .iter()
            .chain(&first)
            .filter(|summary| summary.status != TickStatus::Ok)
            .count(),
        tool_calls: summaries.iter().map(|summary| summary.actions).sum(),
        elapsed,
        cpu,
        latencies: Latencies::new(samples),
        login_round,
    })
}

/// Ticks every persona `rounds` times, starting a persona's next tick as soon
/// as its last one finished, the way a schedule keeps a daemon busy (no
/// barrier between rounds, so no round ends with idle cores).
async fn keep_ticking(
    system: &RunnerSystem,
    ids: &[String],
    rounds: usize,
) -> anyhow::Result<Vec<TickSummary>> {
    let mut left: HashMap<String, usize> = HashMap::new();
    let mut waiting: HashMap<String, String> = HashMap::new();
    for id in ids {
        waiting.insert(id.clone(), system.start_tick(id).await?);
        left.insert(id.clone(), rounds.saturating_sub(1));
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut finished = Vec::new();
    while !waiting.is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
        for (persona, summary) in system.take_finished(&mut waiting).await? {
            finished.push(summary);
            if let Some(more) = left.get_mut(&persona).filter(|more| **more > 0) {
                *more -= 1;
                waiting.insert(persona.clone(), system.start_tick(&persona).await?);
            }
        }
        if Instant::now() > deadline {
            bail!("{} ticks did not finish within 10 minutes", waiting.len());
        }
    }
    Ok(finished)
}
