//! Actors: resident memory of 1,000 and 10,000 idle persona actors under one
//! supervisor, and the latency of the supervisor's snapshot with them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::app_client::AppClient;
use actors::mcp_client::McpEndpoint;
use actors::runtime::RuntimeEnv;
use actors::runtime::dispatcher::{DispatcherActor, DispatcherArgs, Gate};
use actors::runtime::persistence::{PersistenceActor, PersistenceArgs};
use actors::runtime::supervisor::{
    PersonaSeed, RestartPolicy, SupervisorActor, SupervisorArgs, SupervisorMsg,
};
use actors::tick::{PersonaProfile, TickSettings};
use catalog::{Archetype, ModuleMix};
use gateway::store::Store;
use ractor::Actor;
use runner::wiring::{Provider, StoreLedger, StoreSink};

use crate::measure::{Latencies, resident_bytes};

/// `quick` measures 1,000 only.
pub async fn run(quick: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Store::open_sqlite_file(&dir.path().join("bench.db")).await?;
    println!(
        "{:>7} {:>12} {:>14} {:>16}",
        "actors", "RSS growth", "per persona", "snapshot p50/p99"
    );
    let counts: &[usize] = if quick { &[1_000] } else { &[1_000, 10_000] };
    for &count in counts {
        let before = resident_bytes();
        let supervisor = spawn_idle(&store, count).await?;
        // Let every actor report its first status to the supervisor.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let grown = resident_bytes().saturating_sub(before);
        let mut samples = Vec::new();
        for _ in 0..50 {
            let asked = Instant::now();
            supervisor
                .call(SupervisorMsg::GetSnapshot, Some(Duration::from_secs(10)))
                .await?;
            samples.push(asked.elapsed());
        }
        let latencies = Latencies::new(samples);
        println!(
            "{count:>7} {:>9.1} MB {:>11.1} KB {:>7.2}/{:.2} ms",
            grown as f64 / 1e6,
            grown as f64 / count as f64 / 1e3,
            latencies.percentile_ms(50.0),
            latencies.percentile_ms(99.0),
        );
        supervisor
            .stop_and_wait(None, Some(Duration::from_secs(30)))
            .await?;
    }
    Ok(())
}

/// A supervisor with `count` personas that never tick: no schedule, and an
/// app address nothing listens on.
async fn spawn_idle(
    store: &Store,
    count: usize,
) -> anyhow::Result<ractor::ActorRef<SupervisorMsg>> {
    let (persistence, _) = Actor::spawn(
        None,
        PersistenceActor,
        PersistenceArgs {
            sink: Arc::new(StoreSink(store.clone())),
            flush_interval: Duration::from_secs(1),
            retry_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        },
    )
    .await?;
    let gate = Gate::new(4, 60, false);
    let (dispatcher, _) = Actor::spawn(
        None,
        DispatcherActor,
        DispatcherArgs {
            gate: gate.clone(),
            persistence,
        },
    )
    .await?;
    let env = Arc::new(RuntimeEnv {
        app: AppClient::new("http://127.0.0.1:9")?,
        mcp: McpEndpoint::new("http://127.0.0.1:9/mcp")?,
        // Idle actors never ask for an LLM.
        llms: Arc::new(Provider::Scripted),
        ledger: Arc::new(StoreLedger(store.clone())),
        gate,
        dispatcher,
        settings: TickSettings::default(),
        tick_timeout: Duration::from_secs(60),
        session_margin: Duration::from_secs(60),
        replica_id: "bench".into(),
        lease: Duration::from_secs(120),
    });
    let module_mix = ModuleMix::new(BTreeMap::from([("todo".to_owned(), 1.0)]))?;
    let personas = (0..count)
        .map(|index| PersonaSeed {
            profile: PersonaProfile {
                id: format!("persona-{index}"),
                email: format!("p{index}@mana.test"),
                name: format!("Persona {index}"),
                archetype: Archetype::SoloDev,
                module_mix: module_mix.clone(),
                system_prompt: "Du bist eine Testperson.".into(),
            },
            password: "bench".into(),
            paused: false,
        })
        .collect();
    let (supervisor, _) = Actor::spawn(
        None,
        SupervisorActor,
        SupervisorArgs {
            personas,
            env,
            restart: RestartPolicy::default(),
            directory: None,
            schedule_every: None,
            refresh_every: None,
        },
    )
    .await?;
    Ok(supervisor)
}
