//! The app under test in the benchmark's own process: a store, N personas
//! cloned from the shipped catalog, and the gateway on a loopback port.

use std::sync::Arc;
use std::time::Duration;

use actors::runtime::LlmFactory;
use anyhow::Context as _;
use catalog::{Catalog, LoadOptions};
use gateway::app::{AppState, RunningGateway};
use gateway::config::GatewayConfig;
use gateway::store::Store;
use runner::config::Secrets;
use runner::system::{SystemSettings, Tuning};

pub struct InProcessApp {
    pub store: Store,
    pub secrets: Secrets,
    pub gateway_url: String,
    pub persona_ids: Vec<String>,
    gateway: RunningGateway,
}

impl InProcessApp {
    /// Opens `url`, seeds `personas` personas (development secrets) and
    /// starts the gateway on `127.0.0.1:0`.
    pub async fn start(url: &str, personas: usize) -> anyhow::Result<InProcessApp> {
        let store = Store::connect(url).await.context("opening the store")?;
        let secrets = Secrets::from_env()?;
        let persona_ids = seed(&store, &secrets, personas).await?;
        let state = AppState::build(
            GatewayConfig {
                service_key: secrets.service_key.clone(),
                ..GatewayConfig::default()
            },
            store.clone(),
            secrets.keyring.clone(),
        )
        .await?;
        let gateway = gateway::app::spawn(([127, 0, 0, 1], 0).into(), state).await?;
        let gateway_url = gateway.url();
        Ok(InProcessApp {
            store,
            secrets,
            gateway_url,
            persona_ids,
            gateway,
        })
    }

    /// Runner settings against this app: no schedule (the benchmark starts
    /// ticks), the default tick settings.
    pub fn settings(
        &self,
        llms: Arc<dyn LlmFactory>,
        concurrency: usize,
        llm_per_minute: u32,
    ) -> SystemSettings {
        SystemSettings {
            target: catalog::target::Target::builtin(&self.gateway_url),
            llms,
            seed_secret: self.secrets.seed_secret.clone(),
            tuning: Tuning {
                concurrency,
                llm_per_minute,
                tick_timeout: Duration::from_secs(300),
                schedule_every: None,
                refresh_every: None,
                ..Tuning::default()
            },
        }
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.gateway.stop().await?;
        self.store.close().await;
        Ok(())
    }
}

/// `count` personas cloned from the shipped catalog under fresh emails,
/// without shared spaces; returns their ids.
async fn seed(store: &Store, secrets: &Secrets, count: usize) -> anyhow::Result<Vec<String>> {
    let catalog = Catalog::shipped(LoadOptions {
        known_modules: Some(registry::MODULES),
        ..LoadOptions::default()
    })?;
    let mut ids = Vec::with_capacity(count);
    for index in 0..count {
        let mut spec = catalog.personas[index % catalog.personas.len()].clone();
        let (local, domain) = spec
            .email
            .split_once('@')
            .context("a catalog email without @")?;
        spec.email = format!("{local}+{index}@{domain}");
        spec.shared_spaces.clear();
        let password = catalog::derive_password(&secrets.seed_secret, &spec.email);
        let upsert =
            gateway::accounts::upsert_persona(store, &secrets.keyring, &spec, &password).await?;
        ids.push(upsert.user_id);
    }
    Ok(ids)
}
