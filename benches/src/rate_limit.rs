//! Rate-limit adherence: the runner against a fake Anthropic API that takes
//! 2 s per answer and allows 60 requests per sliding minute, answering the
//! real 429 above it. Personas tick back to back for the whole run with the
//! dispatcher set to the same 60 per minute; the figures are the requests
//! per minute the API accepted and the 429s it had to send.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::llm::anthropic::{AnthropicLlm, DEFAULT_MODEL};
use actors::llm::retry::RetryPolicy;
use actors::runtime::persona::Activity;
use actors::testing::{FakeModel, FakeServer, ModelOptions};
use runner::wiring::Provider;

use crate::in_process::InProcessApp;

const LIMIT_PER_MINUTE: u32 = 60;
const LATENCY: Duration = Duration::from_secs(2);

/// `quick`: 70 s instead of 3 minutes.
pub async fn run(quick: bool) -> anyhow::Result<()> {
    let length = if quick {
        Duration::from_secs(70)
    } else {
        Duration::from_secs(180)
    };
    let model = Arc::new(FakeModel::new(ModelOptions {
        latency: LATENCY,
        per_minute: Some(LIMIT_PER_MINUTE),
        ..ModelOptions::default()
    })?);
    let server = FakeServer::start_model(model.clone()).await?;
    let llm = AnthropicLlm::new(
        "sk-ant-bench-not-a-key".into(),
        DEFAULT_MODEL.into(),
        Some(server.base_url()),
        RetryPolicy::default(),
    )?;
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("rate.db").display());
    // More personas than could ever be served: demand always exceeds the limit.
    let app = InProcessApp::start(&url, 20).await?;
    let system = runner::system::start(
        app.store.clone(),
        app.settings(
            Arc::new(Provider::Hosted(Arc::new(llm))),
            8,
            LIMIT_PER_MINUTE,
        ),
    )
    .await?;
    println!(
        "rate limit: fake LLM with {:.0} s latency and {LIMIT_PER_MINUTE} requests per sliding minute (429 above it), dispatcher at {LIMIT_PER_MINUTE}/min, {:.0} s",
        LATENCY.as_secs_f64(),
        length.as_secs_f64()
    );
    let began = Instant::now();
    let mut ticks_started = 0usize;
    while began.elapsed() < length {
        // Keep every idle persona ticking, so requests always wait at the gate.
        let snapshot = system.snapshot().await?;
        for entry in &snapshot.personas {
            let idle = entry
                .status
                .as_ref()
                .is_some_and(|status| status.activity == Activity::Idle);
            if idle && system.start_tick(&entry.persona_id).await.is_ok() {
                ticks_started += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stats = model.stats();
    system.shutdown(Duration::from_secs(1)).await;
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
    println!("ticks started        {ticks_started}");
    println!("requests answered    {}", stats.answered);
    println!(
        "achieved rate        {per_minute:.1}/min = {:.1}% of the {LIMIT_PER_MINUTE}/min allowed",
        per_minute / f64::from(LIMIT_PER_MINUTE) * 100.0
    );
    println!("busiest 60 s window  {busiest} requests");
    println!("429s from the limit  {}", stats.over_limit);
    Ok(())
}
