//! Embeds the whole system in another program: the app under test on a
//! temporary SQLite file, the persona runner's actors over it, one round of
//! ticks for every due persona, and a clean shutdown.
//!
//! ```sh
//! cargo run -p runner --example embed_runner
//! ```
//!
//! A host program would keep `RunnerSystem` running and call
//! `shutdown(grace)` on its own exit signal; `handles` gives it the
//! supervisor, dispatcher and persistence actors to inspect and steer.

use std::sync::Arc;
use std::time::Duration;

use catalog::{Catalog, LoadOptions, SeedSecret, derive_password};
use gateway::app::AppState;
use gateway::config::GatewayConfig;
use gateway::store::Store;
use registry::crypto::{KeyEncryptionKey, Keyring};
use runner::system::{SystemSettings, Tuning};
use runner::wiring::Provider;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Store::open_sqlite_file(&dir.path().join("persona.db")).await?;
    // A throwaway key: this database lives only as long as the example.
    let keyring = Keyring::new(KeyEncryptionKey::new("example", &[42; 32])?, Vec::new());
    let secret = SeedSecret::dev_fallback();
    for persona in Catalog::shipped(LoadOptions::default())?.personas {
        let password = derive_password(&secret, &persona.email);
        gateway::accounts::upsert_persona(&store, &keyring, &persona, &password).await?;
    }

    let state = AppState::build(GatewayConfig::default(), store.clone(), keyring).await?;
    let server = gateway::app::spawn(([127, 0, 0, 1], 0).into(), state).await?;
    let url = server.url();

    let system = runner::system::start(
        store.clone(),
        SystemSettings {
            target: catalog::target::Target::builtin(&url),
            llms: Arc::new(Provider::Scripted),
            seed_secret: secret,
            tuning: Tuning {
                llm_per_minute: 100_000,
                tick_timeout: Duration::from_secs(120),
                schedule_every: None,
                refresh_every: None,
                ..Tuning::default()
            },
        },
    )
    .await?;

    let due = store.due_personas(gateway::store::now()).await?;
    for persona in &due {
        system.start_tick(&persona.user_id).await?;
    }
    loop {
        let snapshot = system.snapshot().await?;
        let done = snapshot
            .personas
            .iter()
            .filter(|entry| entry.status.as_ref().is_some_and(|s| s.ticks > 0))
            .count();
        if done == due.len() {
            for entry in &snapshot.personas {
                if let Some(last) = entry
                    .status
                    .as_ref()
                    .and_then(|status| status.last.as_ref())
                {
                    println!(
                        "{:<28} {} tools, {} errors, {} modules rated",
                        entry.email, last.actions, last.failed_actions, last.modules_rated
                    );
                }
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    system.shutdown(Duration::from_secs(10)).await;
    server.stop().await?;
    Ok(())
}
