//! The runtime's own cost per LLM request and per tool call, next to what a
//! model costs: the dispatcher's rate-slot round trip every LLM request
//! takes, and the two events (call started, call ended) every tool call
//! sends its persona actor, which updates the live `tool_use_id → call` map
//! and reports to the supervisor.
//!
//! Both run through the real assembly (`runner::system::start`) against the
//! in-process app: one persona ticks with an LLM that never answers until
//! released, so its tick is running (waiting on the LLM) while the benchmark
//! sends its persona actor events with the running tick's id — the same
//! messages the tick's recorder sends. Rows:
//!
//! * `llm rate slot`: one `RequestLlmSlot` round trip, sequential, with the
//!   rate set so high that no request waits for the limiter;
//! * `tool call events`: a call's two events, timed in batches of
//!   [`BATCH`] calls closed by one `GetLiveTick` round trip (mailboxes are
//!   FIFO, so the answer means every event was applied), per call. The
//!   answer clones the growing call list, so later batches read a little
//!   high.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::llm::{Block, Llm, LlmError, LlmRequest, LlmResponse, StopReason};
use actors::progress::{TickEvent, Waiting};
use actors::runtime::LlmFactory;
use actors::runtime::dispatcher::DispatcherMsg;
use actors::runtime::persona::{LiveTick, PersonaMsg};
use actors::tick::PersonaProfile;
use async_trait::async_trait;
use catalog::{ActionResult, TokenUsage};
use ractor::ActorRef;
use tokio::sync::watch;

use crate::in_process::InProcessApp;
use crate::measure::Latencies;

/// Calls per timed batch of the events row.
const BATCH: usize = 50;

pub async fn run(quick: bool) -> anyhow::Result<()> {
    let (slots, batches) = if quick { (2_000, 40) } else { (20_000, 200) };
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let app = InProcessApp::start(&url, 1).await?;
    let (release, held) = watch::channel(true);
    let llm: Arc<dyn Llm> = Arc::new(HeldLlm { held });
    let system = runner::system::start(
        app.store.clone(),
        app.settings(Arc::new(Shared(llm)), 4, u32::MAX),
    )
    .await?;
    let handles = system.handles.clone();

    // Asked from a spawned task, as a tick asks: `main`'s own future runs
    // outside the runtime's workers, so every answer would cross threads.
    let dispatcher = handles.dispatcher.clone();
    let slot = tokio::spawn(async move {
        let mut samples = Vec::with_capacity(slots);
        for _ in 0..slots {
            let asked = Instant::now();
            dispatcher
                .call(
                    |reply| DispatcherMsg::RequestLlmSlot("bench".into(), reply),
                    None,
                )
                .await?
                .success_or_else(|| anyhow::anyhow!("the dispatcher did not answer"))??;
            samples.push(asked.elapsed());
        }
        anyhow::Ok(Latencies::new(samples))
    })
    .await??;

    let persona_id = app
        .persona_ids
        .first()
        .ok_or_else(|| anyhow::anyhow!("the app has no persona"))?;
    let tick_id = handles.start_tick(persona_id).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while live(&handles, persona_id)
        .await?
        .and_then(|tick| tick.waiting)
        != Some(Waiting::Llm)
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the tick did not reach its LLM request"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The supervisor's only child is the one persona's actor.
    let actor: ActorRef<PersonaMsg> = handles
        .supervisor
        .get_children()
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("the supervisor has no persona actor"))?
        .into();
    let tick: Arc<str> = Arc::from(tick_id.as_str());
    let events = tokio::spawn(async move {
        let mut samples = Vec::with_capacity(batches);
        for batch in 0..batches {
            let began = Instant::now();
            for call in 0..BATCH {
                let tool_use_id = format!("bench_{batch}_{call}");
                actor.cast(PersonaMsg::Observed(
                    tick.clone(),
                    Box::new(TickEvent::CallStarted {
                        tool_use_id: tool_use_id.clone(),
                        tool: "todo.list".into(),
                    }),
                ))?;
                actor.cast(PersonaMsg::Observed(
                    tick.clone(),
                    Box::new(TickEvent::CallEnded {
                        tool_use_id,
                        result: ActionResult::Ok,
                        failed_by: None,
                        latency_ms: 1,
                    }),
                ))?;
            }
            let live = actor
                .call(PersonaMsg::GetLiveTick, Some(Duration::from_secs(10)))
                .await?
                .success_or_else(|| anyhow::anyhow!("the persona actor did not answer"))??;
            samples.push(began.elapsed() / BATCH as u32);
            anyhow::ensure!(
                live.is_some_and(|live| live.calls.len() == (batch + 1) * BATCH),
                "an event was lost"
            );
        }
        anyhow::Ok(Latencies::new(samples))
    })
    .await??;

    release.send_replace(false);
    system.shutdown(Duration::from_secs(30)).await;
    app.stop().await?;

    println!("The runtime's cost per step (µs), in this process, one persona ticking:");
    println!(
        "{:<44} {:>10} {:>10} {:>10}",
        "step", "samples", "p50 µs", "p99 µs"
    );
    for (name, latencies) in [
        ("llm rate slot (dispatcher round trip)", &slot),
        ("tool call events (start + end, per call)", &events),
    ] {
        println!(
            "{:<44} {:>10} {:>10.1} {:>10.1}",
            name,
            latencies.len(),
            latencies.percentile_ms(50.0) * 1e3,
            latencies.percentile_ms(99.0) * 1e3
        );
    }
    println!(
        "next to a model: a hosted model answers in 1–30 s, the local SmolLM2-135M in about \
         25 s (BENCHMARKS.md §f); at p99 the runtime adds {:.1} µs per LLM request and tool call",
        (slot.percentile_ms(99.0) + events.percentile_ms(99.0)) * 1e3
    );
    Ok(())
}

async fn live(
    handles: &runner::system::RunnerHandles,
    persona: &str,
) -> anyhow::Result<Option<LiveTick>> {
    Ok(handles.live_tick(persona).await?)
}

/// An LLM that answers only once released, then ends the day.
struct HeldLlm {
    held: watch::Receiver<bool>,
}

#[async_trait]
impl Llm for HeldLlm {
    fn provider(&self) -> &'static str {
        "held"
    }
    fn model(&self) -> &str {
        "held"
    }
    async fn complete(&self, _request: &LlmRequest) -> Result<LlmResponse, LlmError> {
        let mut held = self.held.clone();
        let _ = held.wait_for(|held| !held).await;
        Ok(LlmResponse {
            content: vec![Block::Text("Fertig.".into())],
            stop_reason: StopReason::EndTurn,
            usage: TokenUsage::default(),
        })
    }
}

/// Hands every tick the same LLM.
struct Shared(Arc<dyn Llm>);

impl LlmFactory for Shared {
    fn for_tick(&self, _persona: &PersonaProfile, _tick_id: &str) -> Arc<dyn Llm> {
        self.0.clone()
    }

    fn provider(&self) -> &'static str {
        self.0.provider()
    }
}
