//! `persona-bench`: measurements of the runner's building blocks, printed as
//! figures and ratios (no test asserts a time; see BENCHMARKS.md).
//!
//! ```sh
//! cargo run --release -p runner --bin persona-bench -- persistence   # rows/s by batch size, SQLite (+ PostgreSQL with TEST_POSTGRES_URL)
//! cargo run --release -p runner --bin persona-bench -- actors         # memory of 1,000 and 10,000 idle persona actors, snapshot latency
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::app_client::AppClient;
use actors::runtime::RuntimeEnv;
use actors::runtime::dispatcher::{DispatcherActor, DispatcherArgs, Gate};
use actors::runtime::persistence::{PersistenceActor, PersistenceArgs};
use actors::runtime::supervisor::{
    PersonaSeed, RestartPolicy, SupervisorActor, SupervisorArgs, SupervisorMsg,
};
use actors::tick::{PersonaProfile, TickSettings};
use anyhow::Context as _;
use catalog::{ActionResult, ActionRow, Archetype, Cadence, ModuleMix, PersonaSpec};
use gateway::store::Store;
use ractor::Actor;
use registry::crypto::{KeyEncryptionKey, Keyring};
use runner::wiring::{Provider, StoreLedger, StoreSink};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match std::env::args().nth(1).as_deref() {
        Some("persistence") => persistence().await,
        Some("actors") => actors().await,
        _ => {
            eprintln!("usage: persona-bench persistence | actors");
            std::process::exit(2);
        }
    }
}

fn mix() -> anyhow::Result<ModuleMix> {
    Ok(ModuleMix::new(BTreeMap::from([("todo".to_owned(), 1.0)]))?)
}

fn row(tick_id: &str, action_idx: u32) -> ActionRow {
    ActionRow {
        tick_id: tick_id.to_owned(),
        action_idx,
        tool_use_id: Some(format!("toolu_{action_idx}")),
        tool_name: "todo.create".into(),
        input_hash: "0123456789abcdef".into(),
        result: ActionResult::Ok,
        error_message: None,
        latency_ms: 12,
        created_at: gateway::store::now(),
    }
}

/// Action rows per second through the idempotent batch path, by batch size.
async fn persistence() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut targets = vec![(
        "sqlite",
        format!("sqlite://{}", dir.path().join("bench.db").display()),
    )];
    if let Ok(url) = std::env::var("TEST_POSTGRES_URL") {
        targets.push(("postgres", url));
    }
    const ROWS: u32 = 20_000;
    println!(
        "persistence: {ROWS} action rows per run through Store::insert_actions (transaction, ON CONFLICT DO NOTHING, last_active_at bump)"
    );
    println!(
        "{:<9} {:>6} {:>12} {:>10}",
        "backend", "batch", "rows/s", "vs batch 1"
    );
    for (label, url) in targets {
        let store = Store::connect(&url)
            .await
            .with_context(|| format!("opening {label}"))?;
        let keyring = Keyring::new(KeyEncryptionKey::new("bench", &[1; 32])?, Vec::new());
        let spec = PersonaSpec {
            name: "Bench".into(),
            email: format!("bench-{}@mana.test", uuid::Uuid::new_v4().simple()),
            archetype: Archetype::SoloDev,
            cadence: Cadence::Hourly,
            module_mix: mix()?,
            system_prompt: "Bench".into(),
            shared_spaces: Vec::new(),
        };
        let persona = gateway::accounts::upsert_persona(&store, &keyring, &spec, "bench-password")
            .await?
            .user_id;
        let mut baseline = None;
        for batch in [1u32, 100, 500] {
            // Fewer rows for one-row batches keep the run short; the rate is per row.
            let rows = if batch == 1 { ROWS / 10 } else { ROWS };
            let tick = uuid::Uuid::now_v7().to_string();
            let all: Vec<ActionRow> = (0..rows).map(|index| row(&tick, index)).collect();
            let started = Instant::now();
            for chunk in all.chunks(batch as usize) {
                store
                    .insert_actions(&persona, chunk, gateway::store::now())
                    .await?;
            }
            let rate = f64::from(rows) / started.elapsed().as_secs_f64();
            let base = *baseline.get_or_insert(rate);
            println!("{label:<9} {batch:>6} {rate:>12.0} {:>9.1}x", rate / base);
        }
        store.delete_persona(&persona).await?;
    }
    Ok(())
}

fn resident_bytes() -> u64 {
    // /proc/self/statm: size resident shared … in pages.
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|text| {
            text.split_whitespace()
                .nth(1)
                .and_then(|pages| pages.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

/// Memory of idle persona actors (each with its conversation actor) and the
/// latency of the supervisor's snapshot.
async fn actors() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Store::open_sqlite_file(&dir.path().join("bench.db")).await?;
    println!(
        "{:>7} {:>12} {:>14} {:>16}",
        "actors", "RSS growth", "per persona", "snapshot p50/p99"
    );
    for count in [1_000usize, 10_000] {
        let before = resident_bytes();
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
            mcp_url: "http://127.0.0.1:9/mcp".into(),
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
        let seeds: Vec<PersonaSeed> = (0..count)
            .map(|index| -> anyhow::Result<PersonaSeed> {
                Ok(PersonaSeed {
                    profile: PersonaProfile {
                        id: format!("persona-{index}"),
                        email: format!("p{index}@mana.test"),
                        name: format!("Persona {index}"),
                        archetype: Archetype::SoloDev,
                        module_mix: mix()?,
                        system_prompt: "Du bist eine Testperson.".into(),
                    },
                    password: "bench".into(),
                    paused: false,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let (supervisor, _) = Actor::spawn(
            None,
            SupervisorActor,
            SupervisorArgs {
                personas: seeds,
                env,
                restart: RestartPolicy::default(),
                directory: None,
                schedule_every: None,
                refresh_every: None,
            },
        )
        .await?;
        // Let every actor report its first status to the supervisor.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let grown = resident_bytes().saturating_sub(before);
        let mut latencies = Vec::new();
        for _ in 0..50 {
            let asked = Instant::now();
            let snapshot = supervisor
                .call(SupervisorMsg::GetSnapshot, Some(Duration::from_secs(10)))
                .await?;
            let _ = snapshot;
            latencies.push(asked.elapsed());
        }
        latencies.sort();
        println!(
            "{count:>7} {:>9.1} MB {:>11.1} KB {:>7.2}/{:.2} ms",
            grown as f64 / 1e6,
            grown as f64 / count as f64 / 1e3,
            latencies[latencies.len() / 2].as_secs_f64() * 1e3,
            latencies[latencies.len() * 99 / 100].as_secs_f64() * 1e3
        );
        supervisor
            .stop_and_wait(None, Some(Duration::from_secs(30)))
            .await?;
    }
    Ok(())
}
