//! Persistence: action rows per second through `Store::insert_actions`, the
//! idempotent batch path the runner uses, at batch sizes 1, 100 and 500 on
//! SQLite and PostgreSQL. Batch 1 is the one-row-per-statement baseline.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context as _;
use catalog::{
    ActionResult, ActionRow, Archetype, Cadence, KnownArchetype, ModuleMix, PersonaSpec,
};
use gateway::store::Store;
use registry::crypto::{KeyEncryptionKey, Keyring};

/// `TEST_POSTGRES_URL` adds PostgreSQL; `quick` writes a tenth of the rows.
pub async fn run(quick: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut targets = vec![(
        "sqlite",
        format!("sqlite://{}", dir.path().join("bench.db").display()),
    )];
    match std::env::var("TEST_POSTGRES_URL") {
        Ok(url) => targets.push(("postgres", url)),
        Err(_) => println!("persistence: TEST_POSTGRES_URL is not set, measuring SQLite only"),
    }
    let total: u32 = if quick { 2_000 } else { 20_000 };
    println!(
        "persistence: {total} action rows per run through Store::insert_actions (transaction, ON CONFLICT DO NOTHING, last_active_at bump)"
    );
    println!(
        "{:<9} {:>6} {:>12} {:>10}",
        "backend", "batch", "rows/s", "vs batch 1"
    );
    for (label, url) in targets {
        let store = Store::connect(&url)
            .await
            .with_context(|| format!("opening {label}"))?;
        let persona = bench_persona(&store).await?;
        let mut baseline = None;
        for batch in [1u32, 100, 500] {
            // Fewer rows for one-row batches keep the run short; the rate is per row.
            let rows = if batch == 1 { total / 10 } else { total };
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

/// A throwaway persona account the rows belong to.
async fn bench_persona(store: &Store) -> anyhow::Result<String> {
    let keyring = Keyring::new(KeyEncryptionKey::new("bench", &[1; 32])?, Vec::new());
    let spec = PersonaSpec {
        name: "Bench".into(),
        email: format!("bench-{}@mana.test", uuid::Uuid::new_v4().simple()),
        archetype: Archetype::from(KnownArchetype::SoloDev),
        cadence: Cadence::Hourly,
        module_mix: ModuleMix::new(BTreeMap::from([("todo".to_owned(), 1.0)]))?,
        system_prompt: "Bench".into(),
        shared_spaces: Vec::new(),
    };
    Ok(
        gateway::accounts::upsert_persona(store, &keyring, &spec, "bench-password")
            .await?
            .user_id,
    )
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
        failed_by: None,
        latency_ms: 12,
        created_at: gateway::store::now(),
    }
}
